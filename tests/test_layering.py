"""The library never depends on the UI."""

import ast
from pathlib import Path

LUQ = Path(__file__).resolve().parents[1] / "luq"


def test_luq_does_not_import_ui_libraries():
    offenders = []
    for path in LUQ.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in {"gradio", "plotly"}]
    assert not offenders, offenders

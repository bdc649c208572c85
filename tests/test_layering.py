"""The architecture, checked: dependencies point one way and modules stay small.

* ``luq`` never imports the UI libraries, nor ``components``, ``benchmarks`` or ``app``;
* the import graph of ``luq`` (function-level imports included) has no circle;
* no module of the project is over 300 lines.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LUQ = ROOT / "luq"
MAX_LINES = 300


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in LUQ.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {n for n in _imports(path) if n in modules and n != name}
    return graph


def test_luq_does_not_import_the_ui_or_the_rest_of_the_project():
    banned = {"gradio", "plotly", "components", "benchmarks", "app"}
    offenders = [f"{path.relative_to(ROOT)}: {n}" for path in LUQ.rglob("*.py")
                 for n in _imports(path) if n.split(".")[0] in banned]
    assert not offenders, offenders


def test_the_import_graph_of_luq_has_no_circle():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_no_module_is_over_300_lines():
    paths = [*LUQ.rglob("*.py"), *(ROOT / "components").rglob("*.py"),
             *(ROOT / "benchmarks").rglob("*.py"), ROOT / "app.py"]
    long = {str(p.relative_to(ROOT)): n for p in paths
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long

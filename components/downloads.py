"""The Budget tab's download files, written once per distinct plan.

Files go to one directory per process, named by the plan's content, so moving the slider
back and forth reuses files instead of leaving a new temporary file per move; the directory
is removed when the process exits.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from luq.export.formats import PLAN_FORMATS, export_plan
from luq.export.rules import GGML_TYPES
from luq.plan import BitPlan

_DIR: Path | None = None


def download_dir() -> Path:
    """This process's download directory (created on first use, removed at exit)."""
    global _DIR
    if _DIR is None:
        _DIR = Path(tempfile.mkdtemp(prefix="luq-downloads-"))
        atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
    return _DIR


def plan_downloads(plan: BitPlan) -> list[str]:
    """Paths of the plan in every plan-only export format (``python -m luq export``)."""
    digest = hashlib.sha256(json.dumps(plan.to_dict(), sort_keys=True).encode()).hexdigest()
    folder = download_dir() / digest[:16]
    paths = []
    for fmt, (filename, _) in PLAN_FORMATS.items():
        path = folder / filename
        if not path.exists():
            export_plan(plan, fmt, path)
        paths.append(str(path))
    return paths


def gguf_download(store, plan: BitPlan, progress=None) -> str:
    """A zip of the plan's GGUF, its mmproj and README (how to run it), written once."""
    export = store.export(plan, progress)
    path = download_dir() / f"luq-gguf-{store.key(plan)}.zip"
    if not path.exists():  # written aside, then renamed: never a half-written zip
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
            for file in filter(None, (export.model, export.mmproj, export.readme)):
                archive.write(file, file.name)
        os.replace(partial, path)
    return str(path)


def ggml_type_table() -> str:
    """Markdown: our setting -> the GGUF type an export stores it as."""
    rows = ["| LUQ setting (method, bits) | GGUF type |", "|---|---|",
            "| llama.cpp type (any) | that type, as measured (ggml quantized it) |"]
    rows += [f"| {'any group-wise (RTN, GPTQ, AWQ)' if m == '*' else m}, {b} | {t} |"
             for (m, b), t in GGML_TYPES.items()]
    return "\n".join(rows)

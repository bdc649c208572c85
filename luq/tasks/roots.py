"""Where local task data may be read from: the allowed data folders, symlinks resolved.

A public app takes a data path from anyone, so local data is read only under these roots:

* ``data/`` in the working directory (where the README's ``hf download --local-dir`` puts it);
* the Hugging Face datasets cache (``datasets.config.HF_DATASETS_CACHE``, i.e.
  ``$HF_DATASETS_CACHE`` or ``~/.cache/huggingface/datasets``);
* every folder named in ``LUQ_DATA_DIRS`` (separated by ``os.pathsep``, as ``PATH``).

A path is inside when its real location (``Path.resolve``: symlinks followed, ``..``
collapsed) lies under a root's real location; a folder's own symlinks must stay inside too.
Outside, the reply is the same whether the path exists or not (:func:`outside_message`), so
a visitor learns nothing about the server's files.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIRS_ENV = "LUQ_DATA_DIRS"
MAX_WALK = 20_000  # entries of a data folder checked for symlinks that leave the roots


def allowed_roots() -> list[Path]:
    """The folders local data may come from, resolved (read at each call: env may change)."""
    from datasets import config

    roots = [Path.cwd() / "data", Path(config.HF_DATASETS_CACHE)]
    extra = os.environ.get(DATA_DIRS_ENV, "")
    roots += [Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip()]
    return [r.resolve() for r in roots]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def is_allowed(path: str | Path, roots: list[Path] | None = None) -> bool:
    """Whether ``path`` (and, for a folder, every symlink in it) resolves inside the roots.

    Never raises: an unreadable or odd path (NUL bytes, too long, a loop) is not allowed.
    """
    roots = allowed_roots() if roots is None else roots
    try:
        real = Path(path).expanduser().resolve()
        if not _inside(real, roots):
            return False
        if real.is_dir():
            seen = 0
            for base, dirs, files in os.walk(real, followlinks=False):
                for name in dirs + files:
                    seen += 1
                    entry = Path(base) / name
                    if seen > MAX_WALK:
                        return True  # a huge folder: its first entries were checked
                    if entry.is_symlink() and not _inside(entry.resolve(), roots):
                        return False
        return True
    except (OSError, ValueError, RuntimeError):
        return False


def looks_like_path(data: str) -> bool:
    """A string meant as a local path rather than a hub id (``org/name``): absolute, home-,
    dot- or backslash-relative, or with more than one slash."""
    return (data.startswith(("/", "~", ".", "\\")) or "\\" in data or data.count("/") != 1
            or os.path.isabs(data))


def outside_message(task_name: str) -> str:
    """The one reply for a path outside the roots, existing or not."""
    return (f"task {task_name}: local data is read only from the allowed data folders (data/ "
            f"in the working directory, the Hugging Face datasets cache, and folders named in "
            f"{DATA_DIRS_ENV}); pass a hub id or a folder inside them")

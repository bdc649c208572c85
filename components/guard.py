"""What every public endpoint shares on a public Space: one-line errors, time bounds, limits.

* :func:`public` wraps a handler so that any failure reaches the visitor as one clear line
  (a ``gr.Error``): no traceback, no framework message, no server path (paths the visitor
  typed are kept). Unexpected errors are logged on the server with their traceback.
* :class:`Deadline` ends a long step (profile, sensitivity, curve, GGUF export) through the
  progress callback the library already calls after each unit of work, so the step stops
  where it stands (state restored by the library's ``finally`` blocks) and the slot frees.
* :func:`whole_number` / :func:`finite_number` bound every numeric input a client can send.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import re
import time
from pathlib import Path

import gradio as gr

from luq.tasks.roots import is_allowed

log = logging.getLogger("luq.app")

# Seconds each expensive event may run before it is ended with a message.
TIME_LIMITS_S = {"profile": 180, "sensitivity": 300, "curve": 300, "export": 180,
                 "what fits": 30, "model load": 300}
MAX_TEXT = 1024  # characters of any free-text input (data paths, hub ids)
_PATH = re.compile(r"(?<![\w.:/~-])(?:/[\w.@+-]+)+/?")


class TimeLimit(RuntimeError):
    """A step ran past its time bound."""


class Deadline:
    """A time bound checked at each progress report.

    Args:
        what: the step's name, for the message.
        seconds: the bound.
        progress: the ``gr.Progress`` (or None) to forward reports to.
    """

    def __init__(self, what: str, seconds: float, progress=None) -> None:
        self.what, self.seconds, self.progress = what, seconds, progress
        self.start = time.monotonic()

    def check(self) -> None:
        if time.monotonic() - self.start > self.seconds:
            raise TimeLimit(f"{self.what} was stopped after {self.seconds:.0f} s, this app's "
                            "time limit for it; try fewer samples or documents")

    def __call__(self, done: int, total: int, message: str) -> None:
        """The library's ``progress(done, total, message)`` callback."""
        self.check()
        if self.progress is not None:
            self.progress(done / max(total, 1), desc=message)


def scrub(message: str, keep: tuple[str, ...] = ()) -> str:
    """``message`` on one line, with every absolute path not in ``keep`` replaced."""
    def replace(match: re.Match) -> str:
        path = match.group(0)
        return path if any(path in k for k in keep) else "<server path>"

    text = " ".join(str(message).split())
    return _PATH.sub(replace, text)[:600]


def _typed(args, kwargs) -> tuple[str, ...]:
    return tuple(v for v in [*args, *kwargs.values()] if isinstance(v, str))


def public(what: str):
    """Decorates a Gradio handler (a function or a generator of replies): every failure
    becomes one clear ``gr.Error`` line."""
    def wrap(fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def replies(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except Exception as err:  # noqa: BLE001 - mapped to one line
                    raise _one_line(what, err, args, kwargs) from None
            return replies

        @functools.wraps(fn)
        def handler(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - mapped to one line
                raise _one_line(what, err, args, kwargs) from None
        return handler
    return wrap


def _one_line(what: str, err: Exception, args, kwargs) -> gr.Error:
    """The visitor's line for a failure (the log gets the traceback of unexpected ones)."""
    if isinstance(err, gr.Error):
        return gr.Error(scrub(err.message, _typed(args, kwargs)))
    if isinstance(err, TimeLimit):
        return gr.Error(str(err))
    if isinstance(err, MemoryError):
        return gr.Error(f"{what} needed more memory than this machine has; the app keeps "
                        "serving")
    log.error("%s failed", what, exc_info=err)
    return gr.Error(f"{what} failed ({type(err).__name__}); the app keeps serving. If it "
                    "happens again, please report it.")


def finite_number(value, name: str, lo: float | None = None, hi: float | None = None) -> float:
    """``value`` as a finite float within [lo, hi], or a ``gr.Error`` naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise gr.Error(f"{name} must be a number.") from None
    if not math.isfinite(number):
        raise gr.Error(f"{name} must be a finite number.")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise gr.Error(f"{name} must lie between {lo:g} and {hi:g}, got {number:g}.")
    return number


def whole_number(value, name: str, lo: int, hi: int) -> int:
    """``value`` as an int within [lo, hi], or a ``gr.Error`` naming ``name``."""
    number = finite_number(value, name, lo, hi)
    if not float(number).is_integer():
        raise gr.Error(f"{name} must be a whole number, got {number:g}.")
    return int(number)


def short_text(value, name: str) -> str:
    """``value`` stripped, at most :data:`MAX_TEXT` characters, no control characters."""
    text = "" if value is None else value
    if not isinstance(text, str):
        raise gr.Error(f"{name} must be text.")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise gr.Error(f"{name} has {len(text)} characters; at most {MAX_TEXT}.")
    if any(ord(ch) < 32 for ch in text):
        raise gr.Error(f"{name} holds control characters.")
    return text


def uploaded_path(value, *also: Path) -> str | None:
    """The path of a file the visitor uploaded through Gradio (or one under ``also``);
    None for anything else, whatever it names on the server."""
    path = value.get("path") if isinstance(value, dict) else value
    roots = [Path(gr.utils.get_upload_folder()).resolve(), *(p.resolve() for p in also)]
    return path if isinstance(path, str) and is_allowed(path, roots) else None

"""The progress callback every long-running step of the library accepts."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]
"""``progress(done, total, message)``: called after each unit of work."""

"""What the process holds: resident memory now and at its peak, memory still available.

On Linux the figures come from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) and
``/proc/meminfo`` (``MemAvailable``); elsewhere ``resource.getrusage`` gives the peak (and
stands in for the current value). :func:`reset_peak_rss` lets a caller measure the peak of
one step (Linux; elsewhere the peak stays the process's).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_MEMINFO = Path("/proc/meminfo")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _proc_kib(path: Path, key: str) -> int | None:
    """The ``key:  N kB`` value of a /proc file in KiB, or None."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _rusage_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes


def process_rss_bytes() -> int:
    """Resident set size of this process now, in bytes."""
    kib = _proc_kib(_STATUS, "VmRSS")
    return kib * 1024 if kib is not None else _rusage_peak_bytes()


def peak_rss_bytes() -> int:
    """Highest resident set size of this process (since start or the last reset), bytes."""
    kib = _proc_kib(_STATUS, "VmHWM")
    return kib * 1024 if kib is not None else _rusage_peak_bytes()


def reset_peak_rss() -> bool:
    """Starts a new peak at the current RSS (Linux); returns whether it could."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def available_memory_bytes(device: torch.device | str = "cpu") -> int | None:
    """Memory still free: on a CUDA device its free memory; on the CPU what the system can
    give without swapping (``MemAvailable``); None when unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    kib = _proc_kib(_MEMINFO, "MemAvailable")
    return kib * 1024 if kib is not None else None


def release_free_memory() -> None:
    """Returns freed heap pages to the system (glibc ``malloc_trim``; no-op elsewhere).

    Freed tensors below glibc's mmap threshold stay in the heap and keep counting as RSS;
    call this after dropping large temporaries (statistics, a quantization pass).
    """
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):
        pass

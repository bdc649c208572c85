"""One memory limit for the process, on its device, and what fits under it.

The explorer keeps what it holds on its device (GPU memory, or the process's RSS on the CPU)
under one stated limit: ``--memory-gb`` / ``LUQ_MEMORY_GB``, else what the device has free when
the limit is resolved (plus what the process already holds), less :data:`MARGIN`. Everything
that grows with use asks the active limit how much room is left:

* the variant store sizes its dense-weight cache to the room left (:mod:`luq.apply`);
* answers are generated in sub-batches whose estimated activations fit
  (:func:`answer_chunk`), so a 100-question evaluation of a 7B model never runs as one batch;
* the sensitivity probe groups calibration samples by the room their reference
  distributions take (:mod:`luq.sensitivity`);
* loading refuses a model whose weights alone exceed the limit, saying what would fit.

On a CUDA device :meth:`MemoryLimit.activate` also caps PyTorch's caching allocator at the limit
(``torch.cuda.set_per_process_memory_fraction``), so going over it is an error, not a surprise.

    limit = resolve_limit("cuda", 24)   # 24 GB, stated
    limit.activate()
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from luq.resources import available_memory_bytes, process_rss_bytes

ENV = "LUQ_MEMORY_GB"
MARGIN = 0.10  # kept free below what the device has free, when no limit is stated
RESERVE = 0.15  # of the limit, left for activations when the dense cache is sized
GB = 1e9


@dataclass(frozen=True)
class MemoryLimit:
    """At most ``nbytes`` held on ``device``.

    Attributes:
        nbytes: the limit in bytes.
        device: ``cpu`` or ``cuda[:i]``; on the CPU the process RSS is what counts.
        source: where the figure came from, for messages (``--memory-gb``, ``LUQ_MEMORY_GB``,
            ``free at start less 10 %``).
    """

    nbytes: int
    device: str = "cpu"
    source: str = "stated"

    def __post_init__(self) -> None:
        if self.nbytes <= 0:
            raise ValueError(f"a memory limit must be positive, got {self.nbytes} bytes")

    def used(self) -> int:
        """What the process holds on the device now (CUDA: allocated tensors, the allocator
        frees its cached blocks before it would go over the cap; CPU: RSS)."""
        device = torch.device(self.device)
        if device.type == "cuda":
            return torch.cuda.memory_allocated(device)
        return process_rss_bytes()

    def headroom(self) -> int:
        """Bytes still allowed (never negative)."""
        return max(0, self.nbytes - self.used())

    def room(self) -> int:
        """Headroom less the :data:`RESERVE` kept for activations (never negative)."""
        return max(0, self.headroom() - int(RESERVE * self.nbytes))

    def describe(self) -> str:
        return f"{self.nbytes / GB:.1f} GB on {self.device} ({self.source})"

    def activate(self) -> MemoryLimit:
        """Makes this the process's limit (and on CUDA, the allocator's cap); returns self."""
        global _ACTIVE
        device = torch.device(self.device)
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, self.nbytes / total), device)
        _ACTIVE = self
        return self


_ACTIVE: MemoryLimit | None = None


def active_limit() -> MemoryLimit | None:
    """The process's limit, once one was activated (None: unlimited)."""
    return _ACTIVE


def deactivate() -> None:
    """No limit from now on (tests; a process that sets its own)."""
    global _ACTIVE
    if _ACTIVE is not None and torch.device(_ACTIVE.device).type == "cuda":
        torch.cuda.set_per_process_memory_fraction(1.0, torch.device(_ACTIVE.device))
    _ACTIVE = None


@contextmanager
def limited(limit: MemoryLimit | None):
    """``limit`` active inside the block; the previous one (or none) after it."""
    global _ACTIVE
    previous = _ACTIVE
    if limit is not None:
        limit.activate()
    else:
        deactivate()
    try:
        yield limit
    finally:
        deactivate()  # an inner CUDA cap is lifted even when an outer CPU limit returns
        if previous is not None:
            previous.activate()


def parse_gb(value: str | float | None, what: str = ENV) -> float | None:
    """A positive number of GB, or None when unset; ValueError names ``what``."""
    if value is None or value == "":
        return None
    try:
        gb = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of GB, got {value!r}") from None
    if not gb > 0 or gb == float("inf"):
        raise ValueError(f"{what} must be a positive number of GB, got {value!r}")
    return gb


def resolve_limit(device: torch.device | str = "cpu", gb: float | None = None,
                  source: str = "--memory-gb") -> MemoryLimit:
    """The limit to keep: ``gb`` if given, else ``LUQ_MEMORY_GB``, else what ``device`` has
    free now plus what this process already holds there, less :data:`MARGIN`."""
    device = torch.device(device)
    name = str(device) if device.type != "cuda" or device.index is not None else "cuda:0"
    if gb is None:
        gb, source = parse_gb(os.environ.get(ENV)), ENV
    if gb is not None:
        return MemoryLimit(int(gb * GB), name, source)
    free = available_memory_bytes(device)
    held = (torch.cuda.memory_reserved(device) if device.type == "cuda"
            else process_rss_bytes())
    if free is None:  # unknown (not Linux): the held memory doubled, at least 4 GB
        return MemoryLimit(max(2 * held, int(4 * GB)), name, "a guess (free memory unknown)")
    return MemoryLimit(int((free + held) * (1 - MARGIN)), name,
                       f"free at start less {MARGIN:.0%}")


def held_line() -> str:
    """What the process holds now, against the active limit: one line for the app."""
    limit = _ACTIVE
    if limit is not None and torch.device(limit.device).type == "cuda":
        device = torch.device(limit.device)
        return (f"GPU memory held {torch.cuda.memory_reserved(device) / GB:.2f} GB "
                f"({torch.cuda.memory_allocated(device) / GB:.2f} GB in tensors) of the "
                f"{limit.describe()} limit; process RSS {process_rss_bytes() / 1e6:.0f} MB.")
    rss = f"Process RSS {process_rss_bytes() / 1e6:.0f} MB"
    return f"{rss} of the {limit.describe()} limit." if limit is not None else f"{rss}."


def check_fits(need: int, what: str, limit: MemoryLimit | None = None) -> None:
    """Raises MemoryError with both figures when ``need`` bytes exceed the room left."""
    limit = limit or _ACTIVE
    if limit is None:
        return
    room = limit.headroom()
    if need > room:
        raise MemoryError(f"{what} needs {need / GB:.1f} GB; {room / GB:.1f} GB is left under "
                          f"the memory limit of {limit.describe()}")


def text_config(config):
    """The decoder's config of a multimodal config (the config itself for a text model)."""
    return getattr(config, "text_config", None) or config


def token_bytes(config, dtype: torch.dtype, kv_only: bool = False) -> int:
    """Estimated bytes one token position costs during a forward pass of the decoder.

    The key/value cache (``2 x layers x kv_heads x head_dim``) stays for the whole generation;
    the transient part is the widest activations of one block at a time, taken twice for the
    temporaries around them (``2 x (4 x hidden + 3 x intermediate)``).
    """
    text = text_config(config)
    hidden = int(getattr(text, "hidden_size", 0) or 0)
    heads = int(getattr(text, "num_attention_heads", 1) or 1)
    kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text, "head_dim", None) or hidden // max(1, heads))
    layers = int(getattr(text, "num_hidden_layers", 0) or 0)
    inter = int(getattr(text, "intermediate_size", 0) or 4 * hidden)
    kv = 2 * layers * kv_heads * head_dim
    width = kv if kv_only else kv + 2 * (4 * hidden + 3 * inter)
    return width * dtype.itemsize


def answer_chunk(model, batch: int, tokens: int, new_tokens: int = 0,
                 limit: MemoryLimit | None = None) -> int:
    """How many of ``batch`` prompts of ``tokens`` positions to generate together under the
    limit (all of them when there is none; at least one)."""
    limit = limit or _ACTIVE
    if limit is None or batch <= 1:
        return max(1, batch)
    dtype = next(model.parameters()).dtype
    config = model.config
    per = token_bytes(config, dtype) * (tokens + new_tokens)
    vocab = int(getattr(text_config(config), "vocab_size", 0) or 0)
    per += vocab * 4 * 2  # the last position's logits in float32, and their softmax
    room = limit.headroom() - int(RESERVE / 3 * limit.nbytes)  # a little kept back
    return max(1, min(batch, room // max(1, per)))

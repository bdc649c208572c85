"""A bounded cache of dequantized weights, shared by the quantized linears of a model.

A :class:`~luq.quant.linear.QuantLinear` stores only packed tensors; a matmul needs the
dense weight. With a :class:`DenseCache` it is either cached (while the cache has room) or
rebuilt into a per-thread scratch buffer that every layer reuses, so an uncached layer costs
one dequantization per forward and no new allocation.

A full cache admits nothing more and evicts nothing for a newcomer: a forward pass visits the
layers in a fixed cycle, where evicting the least recently used entry would make every
access a miss, while keeping the first entries makes the cached share hit every time.
:meth:`DenseCache.retain` drops the entries of layers a new plan no longer uses.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import torch
from torch import nn


class DenseCache:
    """Dense weights of quantized linears, at most ``limit_bytes`` of them.

    Args:
        limit_bytes: the bound (``None``: unbounded; ``0``: never cache).

    Attributes:
        nbytes: bytes cached now (never above the limit).
        dequantizations: weights rebuilt so far (cache fills and scratch rebuilds).
    """

    def __init__(self, limit_bytes: int | None = None) -> None:
        if limit_bytes is not None and limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0 or None, got {limit_bytes}")
        self.limit = limit_bytes
        self.nbytes = 0
        self.dequantizations = 0
        self._owners: dict[nn.Module, int] = {}  # module -> bytes of its cached weight
        self._lock = threading.Lock()
        self._local = threading.local()

    def weight(self, module: nn.Module, dtype: torch.dtype,
               device: torch.device) -> torch.Tensor:
        """``module``'s dense ``(out, in)`` weight in ``dtype`` on ``device``.

        ``module`` is a QuantLinear on ``device``: it keeps its cached weight in ``_dense``
        and rebuilds it with ``dequantize_as(dtype, out)``. The result may be a view of this
        thread's scratch buffer, valid until the next call from the same thread.
        """
        cached = module._dense
        if cached is not None and cached.dtype == dtype and cached.device == device:
            return cached
        self.drop(module)
        self.dequantizations += 1
        nbytes = module.out_features * module.in_features * dtype.itemsize
        with self._lock:
            admit = self.limit is None or self.nbytes + nbytes <= self.limit
            if admit:
                self.nbytes += nbytes
                self._owners[module] = nbytes
        if admit:
            module._dense = module.dequantize_as(dtype)
            return module._dense
        return module.dequantize_as(dtype, self._scratch(nbytes, dtype, device))

    def drop(self, module: nn.Module) -> None:
        """Forgets ``module``'s cached weight, if any."""
        with self._lock:
            nbytes = self._owners.pop(module, None)
            if nbytes is not None:
                self.nbytes -= nbytes
                module._dense = None

    def retain(self, modules: Iterable[nn.Module]) -> None:
        """Drops every cached weight except those of ``modules`` (the layers in use)."""
        keep = set(modules)
        for module in [m for m in self._owners if m not in keep]:
            self.drop(module)

    def resize(self, limit_bytes: int | None) -> None:
        """A new bound; entries are dropped (latest first) until the cache is within it."""
        if limit_bytes is not None and limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0 or None, got {limit_bytes}")
        self.limit = limit_bytes
        while limit_bytes is not None and self.nbytes > limit_bytes and self._owners:
            self.drop(next(reversed(self._owners)))

    def clear(self) -> None:
        """Drops every cached weight and this thread's scratch buffer."""
        self.retain(())
        self._local.__dict__.clear()

    def _scratch(self, nbytes: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """This thread's reusable buffer of at least ``nbytes`` for ``dtype`` on ``device``."""
        key = (dtype, str(device))
        buffers = self._local.__dict__.setdefault("buffers", {})
        buf = buffers.get(key)
        numel = nbytes // dtype.itemsize
        if buf is None or buf.numel() < numel:
            buf = buffers[key] = torch.empty(numel, dtype=dtype, device=device)
        return buf

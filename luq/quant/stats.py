"""Calibration statistics of a linear layer's inputs, collected batch by batch.

Collecting is separate from solving (as in GPTQ's ``add_batch``): a forward hook feeds
:meth:`InputStats.add_batch`; quantizers read ``hessian`` and ``samples``.
"""

from __future__ import annotations

import torch


class InputStats:
    """Running ``H = 2/n * sum x x^T`` and a bounded, evenly spread sample of input rows.

    Args:
        in_features: input width of the layer.
        max_samples: input rows kept for AWQ's scale search (stride sampling).
    """

    def __init__(self, in_features: int, max_samples: int = 512) -> None:
        self.hessian = torch.zeros(in_features, in_features)
        self.rows = 0
        self.max_samples = max_samples
        self._samples: list[torch.Tensor] = []
        self._kept = 0

    def add_batch(self, x: torch.Tensor) -> None:
        """Adds inputs ``x`` of shape ``(..., in_features)``."""
        x = x.detach().reshape(-1, x.shape[-1]).float().cpu()  # (n, in)
        n = x.shape[0]
        total = self.rows + n
        self.hessian.mul_(self.rows / total).add_(x.T @ x, alpha=2.0 / total)
        self.rows = total
        if self._kept < self.max_samples:
            take = x[:: max(1, n // max(1, self.max_samples // 8))][: self.max_samples - self._kept]
            self._samples.append(take)
            self._kept += take.shape[0]

    @property
    def samples(self) -> torch.Tensor:
        """Kept input rows, ``(m, in_features)``."""
        if not self._samples:
            return torch.zeros(0, self.hessian.shape[0])
        return torch.cat(self._samples)

"""Calibration statistics of a linear layer's inputs, collected batch by batch.

Collecting is separate from solving (as in GPTQ's ``add_batch``): a forward hook feeds
:meth:`InputStats.add_batch`; quantizers read ``hessian``, ``hinv_diag(damp)`` and
``samples``. Each quantization setting states what it reads (:class:`StatsNeeds`), so a
collector keeps only that and :meth:`InputStats.reduce` drops the rest: per-channel BiLLM
keeps one value per input channel instead of an ``(in, in)`` Hessian.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from luq.quant.hessian import inverse_cholesky_diag


@dataclass(frozen=True)
class StatsNeeds:
    """What a quantization setting reads from a linear's input statistics.

    Attributes:
        hessian: the full ``H = 2 X^T X / n`` (GPTQ; BiLLM-style with several column blocks).
        samples: a bounded sample of input rows (AWQ's scale search).
        hinv_diag: dampings at which the diagonal of ``H``'s inverse Cholesky factor is read
            (per-channel BiLLM-style: salient columns, no error feedback).
        sq_mean: the mean of ``x**2`` per input column (ggml's importance matrix, as
            ``llama-imatrix`` computes it); collected always (one value per column), kept
            after :meth:`InputStats.reduce` only when needed.
    """

    hessian: bool = False
    samples: bool = False
    hinv_diag: frozenset[float] = frozenset()
    sq_mean: bool = False

    def __or__(self, other: StatsNeeds) -> StatsNeeds:
        return StatsNeeds(self.hessian or other.hessian, self.samples or other.samples,
                          self.hinv_diag | other.hinv_diag, self.sq_mean or other.sq_mean)

    def __bool__(self) -> bool:
        return self.hessian or self.samples or bool(self.hinv_diag) or self.sq_mean

    @property
    def accumulates_hessian(self) -> bool:
        """Whether collecting needs the running Hessian (even if only a reduction is kept)."""
        return self.hessian or bool(self.hinv_diag)


class InputStats:
    """Running ``H = 2/n * sum x x^T`` and a bounded, evenly spread sample of input rows.

    Input rows are buffered and folded into ``X^T X`` by one matrix product per few hundred
    rows (float32, on the inputs' device), not one per batch.

    Args:
        in_features: input width of the layer.
        max_samples: input rows kept for AWQ's scale search (stride sampling).
        hessian: accumulate the Hessian.
        samples: keep sample rows (in the inputs' dtype).
    """

    def __init__(self, in_features: int, max_samples: int = 512, hessian: bool = True,
                 samples: bool = True) -> None:
        self.in_features = in_features
        self.rows = 0
        self.max_samples = max_samples if samples else 0
        self._keep_hessian = hessian
        self._h: torch.Tensor | None = None  # X^T X, or H once normalised
        self._normalised = False
        self._pending: list[torch.Tensor] = []
        self._pending_rows = 0
        self._flush_rows = max(256, in_features // 4)  # buffer <= a quarter of H's bytes
        self._samples: list[torch.Tensor] = []
        self._kept = 0
        self._hinv_diag: dict[float, torch.Tensor] = {}
        self._sq: torch.Tensor | None = None  # sum of x**2 per column, float64

    def add_batch(self, x: torch.Tensor) -> None:
        """Adds inputs ``x`` of shape ``(..., in_features)``."""
        x = x.detach().reshape(-1, x.shape[-1])  # (n, in)
        n = x.shape[0]
        sq = x.to(torch.float64).square().sum(0)  # (in,)
        self._sq = sq if self._sq is None else self._sq.add_(sq)
        if self._keep_hessian:
            self._pending.append(x.to(torch.float32, copy=True))
            self._pending_rows += n
            if self._pending_rows >= self._flush_rows:
                self._flush()
        self.rows += n
        if self._kept < self.max_samples:
            take = x[:: max(1, n // max(1, self.max_samples // 8))][: self.max_samples - self._kept]
            self._samples.append(take.clone())
            self._kept += take.shape[0]

    def _flush(self) -> None:
        if not self._pending:
            return
        X = torch.cat(self._pending)  # (m, in)
        self._pending.clear()
        self._pending_rows = 0
        if self._h is None:
            self._h = X.T @ X
            self._normalised = False
            return
        if self._normalised:  # back to a plain sum before adding
            self._h.mul_((self.rows - X.shape[0]) / 2)
            self._normalised = False
        self._h.addmm_(X.T, X)

    @property
    def hessian(self) -> torch.Tensor | None:
        """``(in, in)`` ``2 X^T X / n`` (float32); None when it is not kept."""
        if not self._keep_hessian:
            return None
        self._flush()
        if self._h is None:
            return torch.zeros(self.in_features, self.in_features)
        if not self._normalised:
            self._h.mul_(2.0 / max(1, self.rows))
            self._normalised = True
        return self._h

    def hinv_diag(self, damp: float) -> torch.Tensor | None:
        """Diagonal of the inverse Cholesky factor of ``H`` damped by ``damp``, or None."""
        if damp not in self._hinv_diag:
            H = self.hessian
            if H is None or self.rows == 0:
                return None
            self._hinv_diag[damp] = inverse_cholesky_diag(H, damp)
        return self._hinv_diag[damp]

    @property
    def sq_mean(self) -> torch.Tensor | None:
        """``(in,)`` float32 mean of ``x**2`` over every input row seen: ``llama-imatrix``'s
        importance of each input column; None before any input or once reduced away."""
        if self._sq is None:
            return None
        return (self._sq / max(1, self.rows)).float().cpu()

    @property
    def samples(self) -> torch.Tensor:
        """Kept input rows, ``(m, in_features)``."""
        if not self._samples:
            return torch.zeros(0, self.in_features)
        return torch.cat(self._samples)

    def reduce(self, needs: StatsNeeds) -> None:
        """Keeps only what ``needs`` reads: computes the ``hinv_diag`` values it lists, then
        frees the Hessian and the samples when they are not needed themselves."""
        for damp in sorted(needs.hinv_diag):
            self.hinv_diag(damp)
        if not needs.hessian:
            self._keep_hessian = False
            self._h = None
            self._pending.clear()
        if not needs.samples:
            self._samples.clear()
            self.max_samples = 0
        if not needs.sq_mean:
            self._sq = None

    @property
    def nbytes(self) -> int:
        """Bytes held (Hessian, buffered rows, samples, reductions)."""
        tensors = [self._h, *self._pending, *self._samples, *self._hinv_diag.values(), self._sq]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

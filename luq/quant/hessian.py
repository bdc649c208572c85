"""The damped Hessian and its inverse Cholesky factor, shared by GPTQ and BiLLM-style.

Both methods push rounding error through ``U``, the upper Cholesky factor of ``H^-1``
(``H^-1 = U^T U``), and BiLLM ranks columns by its diagonal. GPTQ's reference code gets ``U``
as ``cholesky(cholesky_inverse(cholesky(H)), upper=True)``: three cubic steps. Here one
Cholesky of the index-reversed ``H`` gives ``H = R R^T`` with ``R`` upper triangular, so
``U = R^-1``: the diagonal alone costs one Cholesky (``diag U = 1 / diag R``) and the full
factor one triangular solve more. Same ``U`` in exact arithmetic.
"""

from __future__ import annotations

import torch


def _damp_(diag: torch.Tensor, damp: float) -> torch.Tensor:
    """In place on a Hessian's diagonal: dead columns to 1, then ``+ damp * mean``; returns
    the dead mask."""
    dead = diag == 0
    diag[dead] = 1.0
    diag.add_(damp * diag.mean())
    return dead


def damped_hessian(hessian: torch.Tensor, damp: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A float32 copy of ``hessian`` ready to factor, and its dead columns.

    Columns that never saw a non-zero input (``H_jj = 0``) get ``H_jj = 1``; then
    ``damp * mean(diag H)`` is added to the diagonal for numerical stability.

    Args:
        hessian: ``(in, in)`` ``2 X^T X / n``.
        damp: fraction of the mean diagonal added to it (GPTQ uses 0.01).

    Returns:
        ``(H, dead)``: the damped ``(in, in)`` matrix and an ``(in,)`` bool mask.
    """
    H = hessian.detach().float().clone()
    return H, _damp_(H.diagonal(), damp)


def inverse_cholesky(H: torch.Tensor) -> torch.Tensor:
    """Upper-triangular ``U`` with ``U^T U = H^-1``, for an already damped ``H``."""
    R = torch.linalg.cholesky(H.flip(0, 1)).flip(0, 1)  # upper, H = R R^T
    eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    return torch.linalg.solve_triangular(R, eye, upper=True)


def inverse_cholesky_diag(hessian: torch.Tensor, damp: float) -> torch.Tensor:
    """The diagonal of :func:`inverse_cholesky` of the damped ``hessian`` (undamped input,
    as :func:`damped_hessian` takes it), at the cost of one copy and one Cholesky."""
    reversed_h = hessian.detach().float().flip(0, 1)  # a copy, damped in place
    _damp_(reversed_h.diagonal(), damp)
    return torch.linalg.cholesky(reversed_h).diagonal().flip(0).reciprocal()

"""Binarization for the ultra-low regime, in the spirit of BiLLM (Huang et al., 2024).

Per group of input columns (``group_size``; the whole row when 0):

* **salient columns** (the top ``salient_fraction`` by Hessian-weighted importance) get a
  residual binary approximation ``a1 * sign(w) + a2 * sign(w - a1 * sign(w))``;
* **the other weights** are binarized with split scales: a per-row threshold ``p`` on
  ``|w|`` (searched) splits them into a concentrated and a sparse part, each with its own
  scale ``mean|w|``. Which part a weight is in costs one bitmap bit per weight.

With a Hessian, blocks are binarized left to right and each block's error is pushed onto the
columns to its right (OBC feedback, as in BiLLM). Every stored bit is counted, so the
effective bits per weight are higher than the 1.08 the paper quotes for BiLLM, which leaves
the split bitmap and per-group scales out of its count.
"""

from __future__ import annotations

import torch

# Split thresholds tried, as quantiles of |w| within a row group.
_SPLIT_QUANTILES = torch.linspace(0.3, 0.98, 18)


def _mean_abs(a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Row-wise mean of ``|a|`` over ``mask``, ``(rows, 1)``; 0 where the mask is empty."""
    m = mask.float()
    return ((a.abs() * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)).float()


def binarize_block(
    w: torch.Tensor, salient: torch.Tensor, split: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Binarizes one ``(out, size)`` block.

    Args:
        w: block of the weight.
        salient: ``(size,)`` bool, the residual-binarized columns.
        split: use split scales for the non-salient weights.

    Returns:
        ``(w_hat, residual_sign, sparse_mask, alphas)``: the fp16-exact reconstruction;
        ``(out, n_salient)`` bool residual signs; ``(out, size)`` bool membership of the
        sparse part (all False without split); ``(out, 4)`` fp16-rounded scales
        ``[a1, a2, a_dense, a_sparse]``.
    """
    out_features = w.shape[0]
    sal = salient.expand(out_features, -1)
    sign = torch.where(w >= 0, 1.0, -1.0)

    a1 = _mean_abs(w, sal).half().float()
    first = a1 * sign
    residual = w - first
    res_sign = torch.where(residual >= 0, 1.0, -1.0)
    a2 = _mean_abs(residual, sal).half().float()

    rest = ~sal
    absw = w.abs()
    if split and rest.any():
        rest_vals = absw[:, ~salient]  # (out, n_rest)
        cands = torch.quantile(rest_vals, _SPLIT_QUANTILES.to(w.dtype), dim=1).T  # (out, J)
        sparse = rest_vals.unsqueeze(-1) > cands.unsqueeze(1)  # (out, n_rest, J)
        v = rest_vals.unsqueeze(-1)
        cnt_s = sparse.sum(1).clamp(min=1)
        cnt_d = (~sparse).sum(1).clamp(min=1)
        a_s = (v * sparse).sum(1) / cnt_s  # (out, J)
        a_d = (v * ~sparse).sum(1) / cnt_d
        err = (((v - a_s.unsqueeze(1)) ** 2) * sparse).sum(1) + (
            ((v - a_d.unsqueeze(1)) ** 2) * ~sparse).sum(1)
        best = err.argmin(dim=1, keepdim=True)  # (out, 1)
        threshold = cands.gather(1, best)
        sparse_mask = (absw > threshold) & rest
    else:
        sparse_mask = torch.zeros_like(rest)
    a_dense = _mean_abs(w, rest & ~sparse_mask).half().float()
    a_sparse = _mean_abs(w, sparse_mask).half().float()

    w_hat = torch.where(sal, first + a2 * res_sign,
                        sign * torch.where(sparse_mask, a_sparse, a_dense))
    alphas = torch.cat([a1, a2, a_dense, a_sparse], dim=1)
    return w_hat, res_sign[:, salient] > 0, sparse_mask, alphas


def salient_columns(w: torch.Tensor, k: int, hinv_diag: torch.Tensor | None) -> torch.Tensor:
    """Bool mask of the ``k`` most important columns of a block.

    Importance is BiLLM's ``sum_i w_ij^2 / [H^-1]_jj^2``; without a Hessian, ``sum_i w_ij^2``.
    """
    score = (w.float() ** 2).sum(0)
    if hinv_diag is not None:
        score = score / hinv_diag.clamp(min=1e-12) ** 2
    mask = torch.zeros(w.shape[1], dtype=torch.bool)
    if k:
        mask[torch.topk(score, k).indices] = True
    return mask


def binarize(
    w: torch.Tensor,
    group_size: int,
    salient_fraction: float,
    split: bool,
    hessian: torch.Tensor | None = None,
    damp: float = 0.01,
) -> dict[str, torch.Tensor]:
    """BiLLM-style binarization of a weight matrix.

    Args:
        w: ``(out, in)`` weight.
        group_size: columns per block; 0 for the whole row.
        salient_fraction: share of each block's columns kept with a residual binarization.
        split: split scales for the non-salient weights.
        hessian: optional ``(in, in)`` ``2 X^T X / n``; enables Hessian-aware salient
            selection and error feedback.
        damp: dampening of the Hessian's diagonal (fraction of its mean).

    Returns:
        Plain tensors (unpacked): ``w_hat`` (out, in), ``sign`` (out, in) bool,
        ``salient`` (in,) bool, ``residual`` (out, n_salient) bool, ``sparse`` (out, n_rest)
        bool, ``alpha`` (out, groups, 4) float32.
    """
    W = w.detach().float().clone()  # (out, in)
    out_features, in_features = W.shape
    size = group_size or in_features
    k = round(salient_fraction * size)
    hinv = None
    if hessian is not None:
        H = hessian.detach().float().clone()
        dead = torch.diag(H) == 0
        H[dead, dead] = 1.0
        H += torch.eye(in_features) * damp * torch.mean(torch.diag(H))
        hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)

    w_hat = torch.empty_like(W)
    sign = torch.empty(out_features, in_features, dtype=torch.bool)
    salient = torch.zeros(in_features, dtype=torch.bool)
    residuals, sparses, alphas = [], [], []
    for start in range(0, in_features, size):
        end = start + size
        block = W[:, start:end]
        diag = torch.diag(hinv)[start:end] if hinv is not None else None
        sal = salient_columns(block, k, diag)
        block_hat, res, sparse, alpha = binarize_block(block, sal, split)
        w_hat[:, start:end] = block_hat
        sign[:, start:end] = block >= 0
        salient[start:end] = sal
        residuals.append(res)
        sparses.append(sparse[:, ~sal])
        alphas.append(alpha)
        if hinv is not None and end < in_features:
            err = (block - block_hat) / diag  # (out, size)
            W[:, end:] -= err @ hinv[start:end, end:]
    return {
        "w_hat": w_hat,
        "sign": sign,
        "salient": salient,
        "residual": torch.cat(residuals, dim=1),
        "sparse": torch.cat(sparses, dim=1),
        "alpha": torch.stack(alphas, dim=1),
    }

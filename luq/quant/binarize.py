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

from luq.quant.hessian import damped_hessian, inverse_cholesky, inverse_cholesky_diag
from luq.quant.pack import pack, unpack, unpack_signs
from luq.quant.spec import QuantizedWeight, QuantSpec

# Split thresholds tried, as quantiles of |w| within a row group.
_SPLIT_QUANTILES = torch.linspace(0.3, 0.98, 18)


def _fp16(t: torch.Tensor) -> torch.Tensor:
    """Rounded through fp16, as stored."""
    return t.half().float()


def _split_threshold(rest: torch.Tensor) -> torch.Tensor:
    """Per-row threshold on ``|w|`` (``rest``: ``(out, n)`` magnitudes) that best splits the
    row into a concentrated and a sparse part, each replaced by its mean; ``(out, 1)``."""
    q = _SPLIT_QUANTILES.to(rest.device, rest.dtype)
    cands = torch.quantile(rest, q, dim=1).T  # (out, J)
    sparse = rest.unsqueeze(-1) > cands.unsqueeze(1)  # (out, n, J)
    v = rest.unsqueeze(-1)
    a_s = (v * sparse).sum(1) / sparse.sum(1).clamp(min=1)  # (out, J)
    a_d = (v * ~sparse).sum(1) / (~sparse).sum(1).clamp(min=1)
    err = (((v - a_s.unsqueeze(1)) ** 2) * sparse).sum(1) + (
        ((v - a_d.unsqueeze(1)) ** 2) * ~sparse).sum(1)
    return cands.gather(1, err.argmin(dim=1, keepdim=True))


def _row_mean(a: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Row-wise mean of ``a`` (over ``mask`` when given), ``(rows, 1)``; 0 for empty rows."""
    if mask is None:
        return a.sum(1, keepdim=True) / max(1, a.shape[1])
    return (a * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1)


def binarize_block(
    w: torch.Tensor, salient: torch.Tensor, split: bool, reconstruct: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Binarizes one ``(out, size)`` block.

    Args:
        w: block of the weight (float32).
        salient: ``(size,)`` bool, the residual-binarized columns.
        split: use split scales for the non-salient weights.
        reconstruct: also return the reconstruction (None otherwise).

    Returns:
        ``(w_hat, residual_sign, sparse, alphas)``: the fp16-exact reconstruction;
        ``(out, n_salient)`` bool residual signs; ``(out, n_rest)`` bool membership of the
        sparse part among the non-salient columns (``(out, 0)`` without split);
        ``(out, 4)`` fp16-rounded scales ``[a1, a2, a_dense, a_sparse]``.
    """
    out_features, size = w.shape
    sal_idx = salient.nonzero().squeeze(1)
    ws = w[:, sal_idx]  # (out, k): only the salient columns are binarized twice
    sign_s = torch.where(ws >= 0, 1.0, -1.0)
    a1 = _fp16(_row_mean(ws.abs()))
    residual = ws - a1 * sign_s
    res_sign = residual >= 0
    a2 = _fp16(_row_mean(residual.abs()))

    n_rest = size - sal_idx.numel()
    if split and n_rest:
        rest_idx = (~salient).nonzero().squeeze(1)
        rest = w[:, rest_idx].abs()  # (out, n_rest)
        sparse = rest > _split_threshold(rest)
        a_dense = _fp16(_row_mean(rest, ~sparse))
        a_sparse = _fp16(_row_mean(rest, sparse))
        if reconstruct:
            w_hat = torch.empty_like(w)
            sign_r = torch.where(w[:, rest_idx] >= 0, 1.0, -1.0)
            w_hat[:, rest_idx] = torch.where(sparse, a_sparse, a_dense) * sign_r
    else:
        # mean |w| over the other columns, without copying them: all minus the salient
        total = torch.linalg.vector_norm(w, 1, dim=1, keepdim=True)
        a_dense = _fp16((total - ws.abs().sum(1, keepdim=True)) / max(1, n_rest))
        a_sparse = torch.zeros_like(a_dense)
        sparse = torch.zeros(out_features, 0, dtype=torch.bool, device=w.device)
        if reconstruct:
            w_hat = torch.where(w >= 0, a_dense, -a_dense)
    if reconstruct:
        w_hat[:, sal_idx] = a1 * sign_s + a2 * torch.where(res_sign, 1.0, -1.0)
    alphas = torch.cat([a1, a2, a_dense, a_sparse], dim=1)
    return (w_hat if reconstruct else None), res_sign, sparse, alphas


def salient_columns(w: torch.Tensor, k: int, hinv_diag: torch.Tensor | None) -> torch.Tensor:
    """Bool mask of the ``k`` most important columns of a block.

    Importance is BiLLM's ``sum_i w_ij^2 / [H^-1]_jj^2``; without a Hessian, ``sum_i w_ij^2``.
    """
    score = w.float().square().sum(0)  # (size,)
    if hinv_diag is not None:
        score = score / hinv_diag.clamp(min=1e-12) ** 2
    mask = torch.zeros(w.shape[1], dtype=torch.bool, device=w.device)
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
    hinv_diag: torch.Tensor | None = None,
    reconstruct: bool = True,
) -> dict[str, torch.Tensor]:
    """BiLLM-style binarization of a weight matrix.

    Args:
        w: ``(out, in)`` weight.
        group_size: columns per block; 0 for the whole row.
        salient_fraction: share of each block's columns kept with a residual binarization.
        split: split scales for the non-salient weights.
        hessian: optional ``(in, in)`` ``2 X^T X / n``; enables Hessian-aware salient
            selection and, with several blocks, error feedback.
        damp: dampening of the Hessian's diagonal (fraction of its mean).
        hinv_diag: instead of ``hessian``, only the diagonal of its inverse Cholesky factor
            (:func:`luq.quant.hessian.inverse_cholesky_diag`): salient selection without
            feedback, which is all a single block (per-channel) uses.
        reconstruct: return ``w_hat`` (skipped when False and no feedback needs it).

    Returns:
        Plain tensors (unpacked): ``w_hat`` (out, in; absent without ``reconstruct``),
        ``sign`` (out, in) bool, ``salient`` (in,) bool, ``residual`` (out, n_salient) bool,
        ``sparse`` (out, n_rest) bool (``(out, 0)`` without split), ``alpha``
        (out, groups, 4) float32.
    """
    W = w.detach().float()  # (out, in)
    out_features, in_features = W.shape
    size = group_size or in_features
    k = round(salient_fraction * size)
    hinv = None
    if hessian is not None:
        if size >= in_features:  # one block: no feedback, the diagonal is enough
            hinv_diag = inverse_cholesky_diag(hessian, damp)
        else:
            hinv = inverse_cholesky(damped_hessian(hessian, damp)[0])
            hinv_diag = hinv.diagonal()
    if hinv is not None:
        W = W.clone()  # error feedback updates it

    reconstruct = reconstruct or hinv is not None
    w_hat = torch.empty_like(W) if reconstruct else None
    salient = torch.zeros(in_features, dtype=torch.bool, device=W.device)
    residuals, sparses, alphas = [], [], []
    for start in range(0, in_features, size):
        end = start + size
        block = W[:, start:end]
        diag = hinv_diag[start:end] if hinv_diag is not None else None
        sal = salient_columns(block, k, diag)
        block_hat, res, sparse, alpha = binarize_block(block, sal, split, reconstruct)
        if reconstruct:
            w_hat[:, start:end] = block_hat
        salient[start:end] = sal
        residuals.append(res)
        sparses.append(sparse)
        alphas.append(alpha)
        if hinv is not None and end < in_features:
            err = (block - block_hat) / diag  # (out, size)
            W[:, end:] -= err @ hinv[start:end, end:]
    result = {
        "sign": W >= 0,
        "salient": salient,
        "residual": torch.cat(residuals, dim=1),
        "sparse": torch.cat(sparses, dim=1),
        "alpha": torch.stack(alphas, dim=1),
    }
    if reconstruct:
        result["w_hat"] = w_hat
    return result


def n_alpha(spec: QuantSpec) -> int:
    """fp16 scales stored per row and group: ``a1, a2, a_dense`` (and ``a_sparse`` with split)."""
    return 4 if spec.split else 3


def store_binarized(spec: QuantSpec, r: dict[str, torch.Tensor]) -> QuantizedWeight:
    """Packs :func:`binarize`'s result: 1-bit signs, salient-column map, residual signs,
    split map (with split) and fp16 scales ``(out, groups, n_alpha)``."""
    tensors = {
        "sign": pack(r["sign"], 1),
        "salient": pack(r["salient"], 1),
        "residual": pack(r["residual"], 1),
        "alpha": r["alpha"][..., : n_alpha(spec)].half().contiguous(),
    }
    if spec.split:
        tensors["sparse"] = pack(r["sparse"], 1)
    return QuantizedWeight(spec, tuple(r["sign"].shape), tensors)


def dequantize_binarized(qw: QuantizedWeight, out: torch.Tensor | None = None) -> torch.Tensor:
    """Float32 weight of a :func:`store_binarized` storage (into ``out`` when given)."""
    out_features, in_features = qw.shape
    alpha = qw.tensors["alpha"].float()  # (out, groups, n_alpha)
    groups = alpha.shape[1]
    size = in_features // groups

    def per_column(j: int, columns: torch.Tensor) -> torch.Tensor:
        """Scale ``j`` of each row for ``columns``: ``(out, 1)`` per-channel, else gathered."""
        return alpha[:, 0, j:j + 1] if groups == 1 else alpha[:, columns // size, j]

    salient = unpack(qw.tensors["salient"], 1, (in_features,), torch.bool)
    sal_idx = salient.nonzero().squeeze(1)
    rest_idx = (~salient).nonzero().squeeze(1)
    w = unpack_signs(qw.tensors["sign"], out_features * in_features, out)  # +-1
    w = w.view(out_features, in_features)
    sign_s = w.index_select(1, sal_idx)  # read before w is scaled
    sign_r = w.index_select(1, rest_idx) if qw.spec.split else None
    w.view(out_features, groups, size).mul_(alpha[..., 2:3])  # a_dense everywhere first
    if qw.spec.split:
        sparse = unpack(qw.tensors["sparse"], 1, (out_features, rest_idx.numel()), torch.bool)
        values = torch.where(sparse, sign_r * per_column(3, rest_idx), w.index_select(1, rest_idx))
        w.index_copy_(1, rest_idx, values)
    if sal_idx.numel():
        res = unpack_signs(qw.tensors["residual"], out_features * sal_idx.numel())
        res = res.view(out_features, -1)
        w.index_copy_(1, sal_idx, per_column(0, sal_idx) * sign_s + per_column(1, sal_idx) * res)
    return w

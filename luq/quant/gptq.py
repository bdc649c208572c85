"""GPTQ (Frantar et al., 2022): column-by-column quantization with Hessian error feedback.

Quantizes columns in order; the rounding error of each column is spread onto the columns
not yet quantized through the upper Cholesky factor of ``H^-1`` (``H = 2 X^T X``), so the
layer's *output* error on the calibration inputs is minimised, not the weight error.
"""

from __future__ import annotations

import torch

from luq.quant.hessian import damped_hessian, inverse_cholesky
from luq.quant.rtn import dequantize_codes, group_params, quantize


def gptq_quantize(
    w: torch.Tensor,
    hessian: torch.Tensor,
    bits: int,
    group_size: int,
    damp: float = 0.01,
    act_order: bool = False,
    block_size: int = 128,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GPTQ of one weight matrix.

    Args:
        w: ``(out, in)`` weight.
        hessian: ``(in, in)`` ``2 X^T X / n`` of the calibration inputs.
        bits: code width.
        group_size: columns per scale/zero group; 0 for per-channel.
        damp: added to the diagonal, as a fraction of its mean (numerical stability).
        act_order: quantize columns by descending ``diag(H)``; group parameters are then
            fixed up front from the original weights ("static groups"), so storage stays in
            plain column order with no group index.
        block_size: columns per lazy-update block (speed only).

    Returns:
        ``(codes, scale, zero)`` in the RTN storage layout: codes ``(out, in)`` uint8, scale
        and zero ``(out, groups)``.
    """
    W = w.detach().float().clone()  # (out, in)
    out_features, in_features = W.shape
    size = group_size or in_features
    groups = in_features // size
    maxq = 2**bits - 1
    H, dead = damped_hessian(hessian, damp)  # (in, in)
    W[:, dead] = 0.0

    scale = torch.empty(out_features, groups, device=W.device)
    zero = torch.empty(out_features, groups, device=W.device)
    if act_order:  # static groups: parameters from the untouched weight
        s, z = group_params(W.reshape(-1, size), bits)
        scale[:], zero[:] = s.view(out_features, groups), z.view(out_features, groups)
        perm = torch.argsort(torch.diag(H), descending=True)
        W, H = W[:, perm], H[perm][:, perm]
        columns = perm.tolist()
    else:
        perm, columns = None, range(in_features)
    Hinv = inverse_cholesky(H)  # upper, Hinv^T Hinv = H^-1
    del H

    Q = torch.empty_like(W)
    for start in range(0, in_features, block_size):
        end = min(start + block_size, in_features)
        W1 = W[:, start:end].clone()
        Err1 = torch.zeros_like(W1)
        for i in range(end - start):
            col = columns[start + i]
            g = col // size
            if perm is None and col % size == 0:  # first column of a group: fit it now
                s, z = group_params(_group_columns(W1, W, i, end, size), bits)
                scale[:, g], zero[:, g] = s[:, 0], z[:, 0]
            s, z = scale[:, g:g + 1], zero[:, g:g + 1]
            w_col = W1[:, i:i + 1]
            q_col = quantize(w_col, s, z, maxq)
            Q[:, start + i] = q_col[:, 0]
            d = Hinv[start + i, start + i]
            err = (w_col - dequantize_codes(q_col, s, z)) / d  # (out, 1)
            W1[:, i:] -= err @ Hinv[start + i:start + i + 1, start + i:end]
            Err1[:, i] = err[:, 0]
        W[:, end:] -= Err1 @ Hinv[start:end, end:]

    if perm is not None:
        codes = torch.empty_like(Q)
        codes[:, perm] = Q
        Q = codes
    return Q.to(torch.uint8), scale, zero


def _group_columns(W1: torch.Tensor, W: torch.Tensor, i: int, end: int,
                   size: int) -> torch.Tensor:
    """The ``size`` columns from column ``i`` of the current block on, as updated so far."""
    inside = W1[:, i:i + size]
    if inside.shape[1] == size:
        return inside
    return torch.cat([inside, W[:, end:end + size - inside.shape[1]]], dim=1)

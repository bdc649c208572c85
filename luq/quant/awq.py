"""AWQ-style activation-aware scaling (Lin et al., 2023), on top of RTN.

Input channels that see large activations matter more. AWQ multiplies column ``j`` of the
weight by ``s_j = mean|x_j| ** a`` before quantizing and divides the input by it, searching
the exponent ``a`` on calibration inputs to minimise the layer's output error. Deployments
fold ``1/s`` into the previous operation; here it is stored beside the codes (fp16, one
value per input channel) and counted in memory.
"""

from __future__ import annotations

import torch

from luq.quant.rtn import fake_quantize_rtn


def awq_search_scale(
    w: torch.Tensor, x: torch.Tensor, bits: int, group_size: int, grid: int = 20
) -> torch.Tensor:
    """Searches the per-input-channel scale that minimises output error after RTN.

    Args:
        w: ``(out, in)`` weight.
        x: ``(n, in)`` calibration inputs.
        bits: code width.
        group_size: RTN group size (0 for per-channel).
        grid: number of exponents tried in ``[0, 1)``; exponent 0 (plain RTN) is one of them,
            so the result is never worse than RTN on ``x``.

    Returns:
        ``(in,)`` positive scale, fp16-representable.
    """
    w = w.float()
    x = x.float()
    reference = x @ w.T  # (n, out)
    act = x.abs().mean(dim=0).clamp(min=1e-6)  # (in,)
    best_err, best = float("inf"), torch.ones_like(act)
    for k in range(grid):
        s = act.pow(k / grid)
        s = (s / (s.max() * s.min()).sqrt()).half().float()  # centre the range, as stored
        w_hat = fake_quantize_rtn(w * s, bits, group_size) / s
        err = float(((x @ w_hat.T - reference) ** 2).mean())
        if err < best_err:
            best_err, best = err, s
    return best

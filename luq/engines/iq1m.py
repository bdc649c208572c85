"""ggml's IQ1_M quantizer with an importance matrix: the same float32 arithmetic, as SIMD lanes.

``quantize_row_iq1_m_impl`` (ggml-quants.c, what ``llama-quantize --imatrix`` runs for IQ1_M)
searches 612 candidate scales for each 16-weight sub-block in scalar C: 320 ns a weight on this
2-core CPU, 14 s for one 44 M-weight TinyLlama block. :mod:`luq.engines.iq1m_search` runs the
same float32 operations in the same order, sharing the partial sums that candidates share, with
sub-blocks as SIMD lanes. The bytes are ggml's own: tests compare them with
``ggml_quantize_chunk`` on random, tied, degenerate and real weights.

The grid (2048 patterns of eight levels) is gguf-py's copy of ggml's; the map from a pattern to
its grid index and the neighbours of a pattern off the grid are built as ``iq2xs_init_impl``
builds them (the grid points at the three smallest squared distances, nearest first, ties by
index). The sort of a sub-block is stable, as glibc's ``qsort`` (a merge sort) is.
:func:`quantize_rows` returns None (and :func:`luq.engines.ggml.quantize` asks ggml) for values
whose float32 sums could overflow, non-finite values, or a pattern without a neighbour.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from luq.engines.iq1m_search import F1, F15, FMAX, HALF, SUB, half_levels, search
from luq.engines.kq_search import F0, QK_K, jit
from luq.engines.q4k import available, superblocks  # noqa: F401 - available: as for Q4_K

BLOCK_BYTES = 56  # 32 bytes of grid indices' low bits, 16 of high bits + shifts, 8 of scales
KMAP = 43692  # ggml's kmap_size: patterns of eight 2-bit levels
NWANT = 3  # ggml's nwant for IQ1_S / IQ1_M: neighbours at the three smallest distances
MASKS = np.array([0x00, 0x80, 0x08, 0x88], np.uint8)  # shift bits of qh
SAFE = 1e8  # beyond this (weights or importance), float32 sums may overflow: ggml decides


@cache
def tables() -> tuple[np.ndarray, ...]:
    """(grid levels (2048, 8) in 0..2, kmap (43692,) pattern -> grid index or -1, nstart
    (43693,), nlev (8, neighbours) int8 and nbrs (neighbours,): the neighbours of an off-grid
    pattern u are nbrs[nstart[u]:nstart[u+1]], whose levels are those columns of nlev)."""
    from gguf.quants import IQ1_S

    IQ1_S.init_grid()
    grid = (np.asarray(IQ1_S.grid).reshape(2048, 8) + 1).astype(np.int64)
    kmap = np.full(KMAP, -1, np.int64)
    codes = (grid << (2 * np.arange(8))).sum(axis=1)
    kmap[codes] = np.arange(2048)
    patterns = np.arange(KMAP)
    levels = (patterns[:, None] >> (2 * np.arange(8))) & 3
    counts = np.zeros(KMAP, np.int64)
    lists = []
    for u in np.flatnonzero((kmap < 0) & (levels < 3).all(axis=1)):  # levels are 0..2
        d2 = (4 * (grid - levels[u]) ** 2).sum(axis=1)  # (2l+1) positions: 4 * level steps
        order = np.argsort(d2, kind="stable")  # distance, then index: ggml's iq2_compare_func
        keep = d2[order] <= np.unique(d2)[NWANT - 1]
        lists.append(order[keep])
        counts[u] = keep.sum()
    nstart = np.zeros(KMAP + 1, np.int64)
    nstart[1:] = np.cumsum(counts)
    nbrs = np.concatenate(lists).astype(np.int64)
    return grid, kmap, nstart, np.ascontiguousarray(grid[nbrs].T, dtype=np.int8), nbrs


@jit
def superscale(x, wout, grid, index, scales, shifts, ls, d, live):  # pragma: no cover
    """Per super-block: the 3-bit scales ``ls`` (blocks, 16) and the refit block scale ``d``
    (before ggml's 1.1125 factor and fp16), as ggml's second loop; ``live[b]`` is False where
    every sub-block's scale is 0 (ggml then writes no scales and no shift bits). Returns how
    many blocks' inverse scale was not finite (ggml decides those)."""
    failed = 0
    for b in range(x.shape[0]):
        mxs = F0
        for ib in range(SUB):
            mxs = mxs if mxs > scales[b, ib] else scales[b, ib]
        live[b] = mxs != F0
        if mxs == F0:
            d[b] = F0
            for ib in range(SUB):
                ls[b, ib] = 0
            continue
        dd = mxs / F15
        inv = F1 / dd
        failed += not abs(inv) < FMAX
        sqx = F0
        sq2 = F0
        for ib in range(SUB):
            li = min(np.float32(7), max(F0, np.rint(HALF * (inv * scales[b, ib] - F1))))
            ls[b, ib] = np.int64(li)
            f = np.float32(2 * np.int64(li) + 1)
            for h in range(2):
                xx = half_levels(shifts[b, ib], h)
                for j in range(8):
                    i = SUB * ib + 8 * h + j
                    wv = wout[b, i]
                    q = xx[grid[index[b, ib, h], j]] * f
                    sqx += wv * q * x[b, i]
                    sq2 += wv * q * q
        d[b] = sqx / sq2 if sq2 > F0 else dd
    return failed


def _pack(index, shifts, ls, d, live) -> np.ndarray:
    """block_iq1_m bytes: qs (32), qh (16: index high bits, shift bits), scales (4 x uint16:
    3-bit sub-block scales, the fp16 super-block scale in their top nibbles)."""
    nb = index.shape[0]
    out = np.zeros((nb, BLOCK_BYTES), np.uint8)
    out[:, 0:32] = (index & 255).reshape(nb, 32).astype(np.uint8)
    qh = ((index[:, :, 0] >> 8) | ((index[:, :, 1] >> 8) << 4)).astype(np.uint8)
    qh |= np.where(live[:, None], MASKS[shifts], 0).astype(np.uint8)
    out[:, 32:48] = qh
    sc = np.zeros((nb, 4), np.uint16)
    lsl = np.where(live[:, None], ls, 0).astype(np.uint16)
    for ib in range(SUB):
        sc[:, ib // 4] |= lsl[:, ib] << (3 * (ib % 4))
    with np.errstate(over="ignore"):  # a scale beyond fp16 is inf in ggml too
        f16 = (d * np.float32(1.1125)).astype(np.float16).view(np.uint16)
    f16 = np.where(live, f16, 0).astype(np.uint16)
    sc[:, 0] |= (f16 & 0x000F) << 12
    sc[:, 1] |= (f16 & 0x00F0) << 8
    sc[:, 2] |= (f16 & 0x0F00) << 4
    sc[:, 3] |= f16 & 0xF000
    out[:, 48:56] = sc.astype("<u2").view(np.uint8)
    return out


def quantize_rows(weight: np.ndarray, imatrix: np.ndarray) -> np.ndarray | None:
    """IQ1_M blocks of ``weight`` (rows, n_per_row; n_per_row a multiple of 256) with the
    importance ``imatrix`` (n_per_row,): ``(rows, n_per_row // 256 * 56)`` uint8, the bytes
    ``ggml_quantize_chunk(GGML_TYPE_IQ1_M, ..., imatrix)`` writes; None where ggml must decide
    (module docstring)."""
    blocks = superblocks(weight, imatrix, "IQ1_M")
    if blocks is None:
        return None
    x, qw = blocks
    if x.size and (np.abs(x).max() > SAFE or np.abs(qw).max() > SAFE):
        return None
    rows = weight.shape[0]
    grid, kmap, nstart, nlev, nbrs = tables()
    nb = x.shape[0]
    index = np.empty((nb, SUB, 2), np.int64)
    scales = np.empty((nb, SUB), np.float32)
    shifts = np.empty((nb, SUB), np.int64)
    wout = np.empty((nb, QK_K), np.float32)
    if search(x, qw, kmap, nstart, nlev, nbrs, grid, index, scales, shifts, wout):
        return None
    ls = np.empty((nb, SUB), np.int64)
    d = np.empty(nb, np.float32)
    live = np.empty(nb, np.bool_)
    if superscale(x, wout, grid, index, scales, shifts, ls, d, live):
        return None
    return _pack(index, shifts, ls, d, live).reshape(rows, -1)

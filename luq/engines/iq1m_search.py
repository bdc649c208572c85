"""The compiled half of :mod:`luq.engines.iq1m`: ggml's IQ1_M search, sub-blocks as lanes.

``quantize_row_iq1_m_impl`` (ggml-quants.c) sorts each 16-weight sub-block, then tries every
split of the sorted weights into the levels -1, 0, +1 (153 splits, each with 4 shifts) and keeps
the best scale; it sums the 16 weights anew for every split, first to last. Here the sums are
the same float32 additions in the same order, but a split's sum continues from the sum of its
prefix (the weights before the first boundary, then before the second), which every split with
that prefix shares: 816 terms per sum instead of 2448, and sub-blocks run side by side as SIMD
lanes. The grid search and the super-block scale then follow ggml line by line.
:mod:`luq.engines.iq1m` says how its bytes are checked.
"""

from __future__ import annotations

import numpy as np

from luq.engines.kq_search import F0, F2, importance, jit

SUB = 16  # IQ1M_BLOCK_SIZE: weights per sub-block
GROUP = 8  # super-blocks searched side by side: 128 sub-block lanes
F1 = np.float32(1)
HALF, F15 = np.float32(0.5), np.float32(15)
DELTA = np.float32(0.125)  # IQ1M_DELTA
EPS = np.float32(1e-7)  # GROUP_MAX_EPS_IQ1_M
FMAX = np.float32(np.finfo(np.float32).max)
XP = np.array([-1 + DELTA, DELTA, 1 + DELTA], np.float32)  # x_p: levels with shift +delta
XM = np.array([-1 - DELTA, -DELTA, 1 - DELTA], np.float32)  # x_m: levels with shift -delta


@jit
def _terms(xs, ws, first, t):  # pragma: no cover - compiled
    """``t[level, j, m, s]``: what sorted weight j of lane s adds to sum m (sumqx[0..3], then
    sumq2[0..3]) at that level, as ggml writes the products ((w * level) * x)."""
    for lv in range(3):
        p, m = XP[lv], XM[lv]
        for j in range(SUB):
            for s in range(xs.shape[1]):
                w, x = ws[j, s], xs[j, s]
                a = w * p * x
                b = w * m * x
                c = w * p * p
                d = w * m * m
                f = first[j, s]
                t[lv, j, 0, s] = a
                t[lv, j, 1, s] = a if f else b
                t[lv, j, 2, s] = b if f else a
                t[lv, j, 3, s] = b
                t[lv, j, 4, s] = c
                t[lv, j, 5, s] = c if f else d
                t[lv, j, 6, s] = d if f else c
                t[lv, j, 7, s] = d


@jit
def _splits(t, best, scale, code):  # pragma: no cover - compiled
    """Every split (i1, i2) and shift k in ggml's order, for all lanes: sums continue from the
    shared prefix (level 0 before i1, level 1 before i2), then add level 2 from i2 on. The
    sums are rows of 8 * lanes floats (``t`` flattened), one vector loop each."""
    lanes = t.shape[3]
    tf = t.reshape(3, SUB, 8 * lanes)
    pre = np.zeros(8 * lanes, np.float32)
    mid = np.empty(8 * lanes, np.float32)
    acc = np.empty(8 * lanes, np.float32)
    for s in range(lanes):
        best[s] = -FMAX
        code[s] = -1
    for i1 in range(SUB + 1):
        for e in range(8 * lanes):  # explicit loops: numba's slice copy does not vectorize
            mid[e] = pre[e]
        for i2 in range(i1, SUB + 1):
            if i2 < SUB:
                row = tf[2, i2]
                for e in range(8 * lanes):
                    acc[e] = mid[e] + row[e]
            else:
                for e in range(8 * lanes):
                    acc[e] = mid[e]
            for j in range(i2 + 1, SUB):
                row = tf[2, j]
                for e in range(8 * lanes):
                    acc[e] += row[e]
            for k in range(4):
                c = (i1 * (SUB + 1) + i2) * 4 + k  # the split and shift, one number
                for s in range(lanes):
                    sx, sq = acc[k * lanes + s], acc[(4 + k) * lanes + s]
                    better = (sq > F0) & (sx * sx > best[s] * sq)
                    sc = sx / sq
                    best[s] = sc * sx if better else best[s]
                    scale[s] = sc if better else scale[s]
                    code[s] = c if better else code[s]
            if i2 < SUB:
                row = tf[1, i2]
                for e in range(8 * lanes):
                    mid[e] += row[e]
        if i1 < SUB:
            row = tf[0, i1]
            for e in range(8 * lanes):
                pre[e] += row[e]


@jit
def half_levels(shift, h):  # pragma: no cover - compiled; ggml's xx for half h of a sub-block
    if h == 0:
        return XP if shift < 2 else XM
    return XP if shift % 2 == 0 else XM


@jit
def _grid(x, w, sc, shift, lv, kmap, nstart, nlev, nbrs, grid, index, err, d2):  # pragma: no cover
    """ggml's grid step for one sub-block: each half's levels ``lv`` looked up in the grid, or
    its nearest neighbour (iq1_find_best_neighbour2: the first with the smallest weighted
    error, each error summed over the 8 weights in order, from the same per-weight terms
    ``err[level, i]``, for all neighbours at once); then the scale refit when a half was off
    the grid. Returns the scale, or -1 when no neighbour was found (ggml decides then)."""
    on_grid = True
    for h in range(2):
        xx = half_levels(shift, h)
        u = 0
        for j in range(8):
            u |= lv[8 * h + j] << (2 * j)
        gi = kmap[u]
        if gi < 0:
            on_grid = False
            for lvl in range(3):
                for i in range(8):
                    diff = sc * xx[lvl] - x[8 * h + i]
                    err[lvl, i] = w[8 * h + i] * diff * diff
            st, cnt = nstart[u], nstart[u + 1] - nstart[u]
            out = d2[:cnt]
            for e in range(cnt):
                out[e] = F0
            for i in range(8):  # int8 levels and slices: the loop vectorizes
                e0, e1, e2 = err[0, i], err[1, i], err[2, i]
                row = nlev[i, st:st + cnt]
                for e in range(cnt):
                    lvl = row[e]
                    a = e1 if lvl == 1 else e2
                    out[e] += e0 if lvl == 0 else a
            bs = FMAX  # the first smallest error below FLT_MAX, as ggml's `d2 < best_score`
            for e in range(cnt):
                bs = min(bs, out[e])
            if bs < FMAX:
                e = 0
                while out[e] != bs:
                    e += 1
                gi = nbrs[st + e]
            if gi < 0:
                return np.float32(-1)
        index[h] = gi
    if not on_grid:
        sqx = F0
        sq2 = F0
        for h in range(2):
            xx = half_levels(shift, h)
            for j in range(8):
                wv = w[8 * h + j]
                q = xx[grid[index[h], j]]
                sqx += wv * q * x[8 * h + j]
                sq2 += wv * q * q
        if sqx > F0 and sq2 > F0:
            sc = sqx / sq2
    return sc


def _network(lo: int, hi: int):
    """Batcher's odd-even merge sort of positions lo..hi (inclusive): comparator pairs."""
    def merge(lo, hi, r):
        step = 2 * r
        if step < hi - lo:
            yield from merge(lo, hi, step)
            yield from merge(lo + r, hi, step)
            yield from ((i, i + r) for i in range(lo + r, hi - r, step))
        else:
            yield lo, lo + r

    if hi > lo:
        mid = (lo + hi) // 2
        yield from _network(lo, mid)
        yield from _network(mid + 1, hi)
        yield from merge(lo, hi, 1)


NETWORK = np.array(list(_network(0, SUB - 1)), np.int64)  # 63 comparators


@jit
def _sort(xs, perm):  # pragma: no cover - compiled
    """Sorts every lane's 16 values ascending, ties by position: what a stable sort (glibc's
    qsort, a merge sort) gives, as a sorting network of compare-exchanges, all lanes at once."""
    for c in range(NETWORK.shape[0]):
        a, b = NETWORK[c, 0], NETWORK[c, 1]
        for s in range(xs.shape[1]):
            va, vb, pa, pb = xs[a, s], xs[b, s], perm[a, s], perm[b, s]
            swap = (vb < va) | ((vb == va) & (pb < pa))
            xs[a, s] = vb if swap else va
            xs[b, s] = va if swap else vb
            perm[a, s] = pb if swap else pa
            perm[b, s] = pa if swap else pb


@jit
def search(x, qw, kmap, nstart, nlev, nbrs, grid, index, scales, shifts, wout):  # pragma: no cover
    """Per 16-weight sub-block: sort, the split search, the grid step. ``x``: (blocks, 256)
    float32; ``qw``: (row_blocks, 256) importance (block b is row_block b % row_blocks). Writes
    ``index`` (blocks, 16, 2) grid indices, ``scales`` (blocks, 16), ``shifts`` (blocks, 16)
    and the weights ``wout`` (blocks, 256). Returns the sub-blocks ggml must decide (0: the
    bytes are ggml's)."""
    nblocks = x.shape[0]
    row_blocks = qw.shape[0]
    lanes = GROUP * SUB
    xs = np.empty((SUB, lanes), np.float32)
    ws = np.empty((SUB, lanes), np.float32)
    first = np.empty((SUB, lanes), np.bool_)
    perm = np.empty((SUB, lanes), np.int32)
    t = np.empty((3, SUB, 8, lanes), np.float32)
    best = np.empty(lanes, np.float32)
    scale = np.empty(lanes, np.float32)
    code = np.empty(lanes, np.int64)
    skip = np.empty(lanes, np.bool_)
    lv = np.empty(SUB, np.int64)
    err = np.empty((3, 8), np.float32)
    d2 = np.empty(np.max(nstart[1:] - nstart[:-1]), np.float32)
    failed = 0
    for g0 in range(0, nblocks, GROUP):
        g = min(GROUP, nblocks - g0)
        if g < GROUP:  # lanes past the last super-block add zeros
            xs[:] = F0
            ws[:] = F0
            first[:] = False
        for k in range(g):
            b = g0 + k
            c = b % row_blocks
            importance(x[b], qw[c], F2, wout[b])
            for ib in range(SUB):
                s = k * SUB + ib
                mx = abs(x[b, SUB * ib])
                for i in range(SUB):
                    xs[i, s] = x[b, SUB * ib + i]
                    perm[i, s] = i
                    mx = max(mx, abs(xs[i, s]))
                skip[s] = mx < EPS
        _sort(xs, perm)
        for k in range(g):
            for ib in range(SUB):
                s = k * SUB + ib
                for j in range(SUB):
                    ws[j, s] = wout[g0 + k, SUB * ib + perm[j, s]]
                    first[j, s] = perm[j, s] < SUB // 2
        _terms(xs, ws, first, t)
        _splits(t, best, scale, code)
        for k in range(g):
            b = g0 + k
            for ib in range(SUB):
                s = k * SUB + ib
                index[b, ib, 0] = 0
                index[b, ib, 1] = 0
                scales[b, ib] = F0
                shifts[b, ib] = 0
                if skip[s] or code[s] < 0:
                    continue
                b1, b2 = code[s] // (4 * (SUB + 1)), code[s] // 4 % (SUB + 1)
                for j in range(SUB):
                    lv[perm[j, s]] = 0 if j < b1 else (1 if j < b2 else 2)
                sc, shift = scale[s], code[s] % 4
                if sc < F0:
                    for j in range(SUB):
                        lv[j] = 2 - lv[j]
                    sc = -sc
                    shift = 3 - shift
                sc = _grid(x[b, SUB * ib:SUB * ib + SUB], wout[b, SUB * ib:SUB * ib + SUB],
                           sc, shift, lv, kmap, nstart, nlev, nbrs, grid, index[b, ib], err,
                           d2)
                failed += sc < F0
                scales[b, ib] = sc
                shifts[b, ib] = shift
    return failed

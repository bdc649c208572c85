"""ggml's Q4_K quantizer with an importance matrix: the same float32 arithmetic, as SIMD lanes.

``quantize_row_q4_K_impl`` (ggml-quants.c, what ``llama-quantize --imatrix`` runs for Q4_K)
searches 37 scales and minima for each 32-weight sub-block, one sub-block after another, in
scalar C: 57 ns a weight on this 2-core CPU, most of the time a 1.1B model's default variants
take. Here every sub-block's search is the same sequence of float32 operations, in the same
order (the sums run over a sub-block's 32 weights first to last, as in C), but 128 sub-blocks run
side by side as SIMD lanes, compiled by numba. The bytes are ggml's own: tests compare them with
``ggml_quantize_chunk`` on random, degenerate and real weights, and :func:`available` is False
(so :func:`luq.engines.ggml.quantize` calls ggml) when numba is missing or ``LUQ_GGML_ONLY`` is
set.

Rounding: ggml's ``nearest_int`` adds 1.5 * 2^23 and reads the bits, which is round-half-even
for the magnitudes it asserts (< 2^22), i.e. ``rint``. The fp16 scales are rounded by numpy
(round-half-even, as ggml's F16C and software conversions).
"""

from __future__ import annotations

import os

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is in requirements.txt
    numba = None

QK_K = 256
BLOCK_BYTES = 144  # fp16 d, fp16 dmin, 12 scale bytes, 128 bytes of 4-bit pairs
GROUP = 16  # super-blocks searched side by side: 128 sub-block lanes


def available() -> bool:
    """True when the lane-parallel path runs (numba present and ``LUQ_GGML_ONLY`` unset)."""
    return numba is not None and not os.environ.get("LUQ_GGML_ONLY")


def _jit(fn):
    return numba.njit(nogil=True, cache=True, error_model="numpy")(fn) if numba else fn


_F0, _F1, _F2, _F15, _F63 = (np.float32(v) for v in (0, 1, 2, 15, 63))
_FQK = np.float32(QK_K)
_RMIN, _RDELTA, _TENTH, _EPS = (np.float32(v) for v in (-0.9, 0.05, 0.1, 1e-15))


@_jit
def _qp_quants(x, w, out_l):  # pragma: no cover - compiled; ggml's make_qp_quants(8, 63, ...)
    n = x.shape[0]
    mx = _F0
    for i in range(n):
        mx = mx if mx > x[i] else x[i]
    if mx < _EPS:
        for i in range(n):
            out_l[i] = 0
        return _F0
    iscale = _F63 / mx
    for i in range(n):
        out_l[i] = np.uint8(np.int64(np.rint(iscale * x[i])) & 0xFF)
    scale = _F1 / iscale
    best = _F0
    for i in range(n):
        diff = x[i] - scale * np.float32(out_l[i])
        best += w[i] * diff * diff
    for step in range(-4, 5):
        if step == 0:
            continue
        isc = (_TENTH * np.float32(step) + _F63) / mx
        sc = _F1 / isc
        mse = _F0
        for i in range(n):
            lv = min(_F63, np.rint(isc * x[i]))
            diff = x[i] - sc * lv
            mse += w[i] * diff * diff
        if mse < best:
            best = mse
            iscale = isc
    sumlx = _F0
    suml2 = _F0
    for i in range(n):
        lv = min(_F63, np.rint(iscale * x[i]))
        out_l[i] = np.uint8(np.int64(lv) & 0xFF)
        sumlx += w[i] * x[i] * lv
        suml2 += w[i] * lv * lv
    for _ in range(5):
        changed = 0
        for i in range(n):
            li = np.float32(out_l[i])
            slx = sumlx - w[i] * x[i] * li
            sl2 = suml2 - w[i] * li * li
            if slx > _F0 and sl2 > _F0:
                new_l = min(_F63, np.rint(x[i] * sl2 / slx))
                if new_l != li:
                    slx += w[i] * x[i] * new_l
                    sl2 += w[i] * new_l * new_l
                    if slx * slx * suml2 > sumlx * sumlx * sl2:
                        out_l[i] = np.uint8(np.int64(new_l) & 0xFF)
                        sumlx = slx
                        suml2 = sl2
                        changed += 1
        if changed == 0:
            break
    return sumlx / suml2 if suml2 > _F0 else _F0


@_jit
def _search(x, qw, lsearch, ls, lm, dm):  # pragma: no cover - compiled
    """Per super-block: the 8 sub-blocks' scale/min search (make_qkx3_quants, 36 steps) and the
    6-bit scales of them (make_qp_quants). ``x``: (blocks, 256) float32 rows of super-blocks;
    ``qw``: (row_blocks, 256) the importance of a row's super-blocks (block b is row_block
    b % row_blocks); writes the search's 4-bit codes, Ls, Lm and
    (d_block, m_block)."""
    nblocks = x.shape[0]
    row_blocks = qw.shape[0]
    lanes = GROUP * 8
    xt = np.empty((32, lanes), np.float32)
    wt = np.empty((32, lanes), np.float32)
    sw = np.empty(lanes, np.float32)
    mn = np.empty(lanes, np.float32)
    mx = np.empty(lanes, np.float32)
    sum_w = np.empty(lanes, np.float32)
    sum_x = np.empty(lanes, np.float32)
    scale = np.empty(lanes, np.float32)
    best = np.empty(lanes, np.float32)
    isc = np.empty(lanes, np.float32)
    acc = np.empty((3, lanes), np.float32)  # sums of w*l, w*l*l, w*l*x; one array to vectorize
    bisc = np.empty(lanes, np.float32)
    bmn = np.empty(lanes, np.float32)
    t_s = np.empty(lanes, np.float32)
    t_m = np.empty(lanes, np.float32)
    mad = np.empty(lanes, np.float32)
    ok = np.empty(lanes, np.bool_)
    deg = np.empty(lanes, np.bool_)
    scales = np.empty(8, np.float32)
    mins = np.empty(8, np.float32)
    for g0 in range(0, nblocks, GROUP):
        g = min(GROUP, nblocks - g0)
        n = g * 8
        for k in range(g):
            b = g0 + k
            c = b % row_blocks
            sum_x2 = _F0
            for i in range(QK_K):
                sum_x2 += x[b, i] * x[b, i]
            sigma2 = _F2 * sum_x2 / _FQK
            for j in range(8):
                s = k * 8 + j
                sumw = _F0
                for i in range(32):
                    v = x[b, 32 * j + i]
                    xt[i, s] = v
                    wi = qw[c, 32 * j + i] * np.sqrt(sigma2 + v * v)
                    wt[i, s] = wi
                    sumw += wi
                sw[s] = sumw
        # make_qkx3_quants(32, 15, x, weights, L, &min, Laux, -0.9f, 0.05f, 36, false)
        for s in range(n):
            v = xt[0, s]
            mn[s] = v
            mx[s] = v
            sum_w[s] = wt[0, s]
            sum_x[s] = wt[0, s] * v
        for i in range(1, 32):
            for s in range(n):
                v = xt[i, s]
                if v < mn[s]:
                    mn[s] = v
                if v > mx[s]:
                    mx[s] = v
                sum_w[s] += wt[i, s]
                sum_x[s] += wt[i, s] * v
        for s in range(n):
            if mn[s] > _F0:
                mn[s] = _F0
            deg[s] = mx[s] <= mn[s]
            isc[s] = _F15 / (mx[s] - mn[s])
            scale[s] = _F1 / isc[s]
            best[s] = _F0
        for i in range(32):
            for s in range(n):
                lv = min(_F15, max(_F0, np.rint(isc[s] * (xt[i, s] - mn[s]))))
                diff = scale[s] * lv + mn[s] - xt[i, s]
                best[s] += wt[i, s] * (diff * diff)
        # A lane's codes are those of the (iscale, min) pair of its best step (or the first
        # guess): recomputed at the end instead of copied at every improvement.
        for s in range(n):
            bisc[s] = isc[s]
            bmn[s] = mn[s]
        for step in range(37):
            for s in range(n):
                isc[s] = (_RMIN + _RDELTA * np.float32(step) + _F15) / (mx[s] - mn[s])
                acc[0, s] = _F0
                acc[1, s] = _F0
                acc[2, s] = _F0
            for i in range(32):
                for s in range(n):
                    lv = min(_F15, max(_F0, np.rint(isc[s] * (xt[i, s] - mn[s]))))
                    wl = wt[i, s] * lv
                    acc[0, s] += wl
                    acc[1, s] += wl * lv
                    acc[2, s] += wl * xt[i, s]
            for s in range(n):
                s_l, s_l2, s_xl = acc[0, s], acc[1, s], acc[2, s]
                d = sum_w[s] * s_l2 - s_l * s_l
                ok[s] = d > _F0
                this_s = (sum_w[s] * s_xl - sum_x[s] * s_l) / d
                this_m = (s_l2 * sum_x[s] - s_l * s_xl) / d
                if this_m > _F0:
                    this_m = _F0
                    this_s = s_xl / s_l2
                t_s[s] = this_s
                t_m[s] = this_m
                mad[s] = _F0
            for i in range(32):
                for s in range(n):
                    lv = min(_F15, max(_F0, np.rint(isc[s] * (xt[i, s] - mn[s]))))
                    diff = t_s[s] * lv + t_m[s] - xt[i, s]
                    mad[s] += wt[i, s] * (diff * diff)
            for s in range(n):
                if ok[s] and mad[s] < best[s]:
                    best[s] = mad[s]
                    scale[s] = t_s[s]
                    bisc[s] = isc[s]
                    bmn[s] = mn[s]
                    mn[s] = t_m[s]
        for k in range(g):  # a lane whose weights are all equal (max <= min) keeps codes 0
            b = g0 + k  # and scale 0: 1 / (15 / 0); its min never changes (its steps are nan)
            for j in range(8):
                s = k * 8 + j
                scales[j] = scale[s]
                mins[j] = -mn[s]
                for i in range(32):
                    lv = min(_F15, max(_F0, np.rint(bisc[s] * (xt[i, s] - bmn[s]))))
                    lsearch[b, 32 * j + i] = 0 if deg[s] else np.uint8(lv)
            dm[b, 0] = _qp_quants(scales, sw[k * 8:k * 8 + 8], ls[b])
            dm[b, 1] = _qp_quants(mins, sw[k * 8:k * 8 + 8], lm[b])


def _scale_bytes(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """The 12 packed bytes of 6-bit scales and minima, as quantize_row_q4_K_impl packs them."""
    ls, lm = ls.astype(np.uint16), lm.astype(np.uint16)
    sc = np.zeros((ls.shape[0], 12), np.uint16)
    sc[:, 0:4] = ls[:, 0:4]
    sc[:, 4:8] = lm[:, 0:4]
    sc[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    sc[:, 0:4] |= (ls[:, 4:8] >> 4) << 6
    sc[:, 4:8] |= (lm[:, 4:8] >> 4) << 6
    return (sc & 0xFF).astype(np.uint8)


@_jit
def _codes(x, dm16, scb, lsearch, out):  # pragma: no cover - compiled
    """The final 4-bit codes with the stored (fp16, 6-bit) scales, packed into ``out``'s
    last 128 bytes of each block: ``nearest_int((x + dm) / d)``, or the search's codes where
    ``d`` is 0 (as ggml's ``if (!d) continue``)."""
    codes = np.empty(QK_K, np.uint8)
    for b in range(x.shape[0]):
        for j in range(8):
            if j < 4:
                sc = np.float32(scb[b, j] & 63)
                m = np.float32(scb[b, j + 4] & 63)
            else:
                sc = np.float32((scb[b, j + 4] & 0xF) | ((scb[b, j - 4] >> 6) << 4))
                m = np.float32((scb[b, j + 4] >> 4) | ((scb[b, j] >> 6) << 4))
            d = dm16[b, 0] * sc
            dmin = dm16[b, 1] * m
            if d == _F0:
                for i in range(32):
                    codes[32 * j + i] = lsearch[b, 32 * j + i]
            else:
                for i in range(32):
                    lv = min(_F15, max(_F0, np.rint((x[b, 32 * j + i] + dmin) / d)))
                    codes[32 * j + i] = np.uint8(lv)
        for h in range(4):
            for i in range(32):
                out[b, 16 + 32 * h + i] = codes[64 * h + i] | (codes[64 * h + 32 + i] << 4)


def quantize_rows(weight: np.ndarray, imatrix: np.ndarray) -> np.ndarray:
    """Q4_K blocks of ``weight`` (rows, n_per_row; n_per_row a multiple of 256) with the
    importance ``imatrix`` (n_per_row,): ``(rows, n_per_row // 256 * 144)`` uint8, the bytes
    ``ggml_quantize_chunk(GGML_TYPE_Q4_K, ..., imatrix)`` writes."""
    rows, n = weight.shape
    if n % QK_K:
        raise ValueError(f"Q4_K needs rows of a multiple of {QK_K} weights, got {n}")
    x = np.ascontiguousarray(weight, dtype=np.float32).reshape(-1, QK_K)
    qw = np.ascontiguousarray(imatrix, dtype=np.float32).reshape(n // QK_K, QK_K)
    nb = x.shape[0]
    lsearch = np.empty((nb, QK_K), np.uint8)
    ls = np.empty((nb, 8), np.uint8)
    lm = np.empty((nb, 8), np.uint8)
    dm = np.empty((nb, 2), np.float32)
    _search(x, qw, lsearch, ls, lm, dm)
    dm16 = dm.astype(np.float16)  # GGML_FP32_TO_FP16: round half to even
    out = np.empty((nb, BLOCK_BYTES), np.uint8)
    out[:, 0:4] = dm16.view(np.uint8)
    out[:, 4:16] = _scale_bytes(ls, lm)
    _codes(x, dm16.astype(np.float32), out[:, 4:16], lsearch, out)
    return out.reshape(rows, -1)

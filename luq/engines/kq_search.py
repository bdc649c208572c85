"""The compiled half of :mod:`luq.engines.q4k` and :mod:`luq.engines.q2k`: ggml's K-quant
scale search with an importance matrix, sub-blocks as lanes.

``search`` is ``make_qkx3_quants(sub, nmax, ..., -0.9f, 0.05f, 36)`` for every sub-block and
``make_qp_quants(256 / sub, qmax, ...)`` for every super-block's scales and minima, as
``quantize_row_q4_K_impl`` (sub 32, nmax 15, qmax 63, sigma2 = 2 * mean x^2) and
``quantize_row_q2_K_impl`` (sub 16, nmax 3, qmax 15, sigma2 = mean x^2) in ggml-quants.c call
them, with the same float32 operations in the same order; :mod:`luq.engines.q4k` says why and
how the bytes are checked.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is in requirements.txt
    numba = None

QK_K = 256
GROUP = 16  # super-blocks searched side by side: 128 (Q4_K) or 256 (Q2_K) sub-block lanes


def jit(fn):
    """numba's nopython compile (cached, GIL released), or ``fn`` itself without numba."""
    return numba.njit(nogil=True, cache=True, error_model="numpy")(fn) if numba else fn


F0, F1, F2 = (np.float32(v) for v in (0, 1, 2))
FQK = np.float32(QK_K)
RMIN, RDELTA, TENTH, EPS = (np.float32(v) for v in (-0.9, 0.05, 0.1, 1e-15))
NI_MAX, NI_BOUND = np.float32(4194303), np.float32(4e6)  # nearest_int's range; a safe bound


@jit
def _qp_quants(x, w, out_l, qmax):  # pragma: no cover - compiled; ggml's make_qp_quants
    """Returns (scale, whether a rounded value left nearest_int's range)."""
    n = x.shape[0]
    big = False
    mx = F0
    for i in range(n):
        mx = mx if mx > x[i] else x[i]
    if mx < EPS:
        for i in range(n):
            out_l[i] = 0
        return F0, big
    iscale = qmax / mx
    for i in range(n):
        big |= not abs(iscale * x[i]) <= NI_MAX
        out_l[i] = np.uint8(np.int64(np.rint(iscale * x[i])) & 0xFF)
    scale = F1 / iscale
    best = F0
    for i in range(n):
        diff = x[i] - scale * np.float32(out_l[i])
        best += w[i] * diff * diff
    for step in range(-4, 5):
        if step == 0:
            continue
        isc = (TENTH * np.float32(step) + qmax) / mx
        sc = F1 / isc
        mse = F0
        for i in range(n):
            big |= not abs(isc * x[i]) <= NI_MAX
            lv = min(qmax, np.rint(isc * x[i]))
            diff = x[i] - sc * lv
            mse += w[i] * diff * diff
        if mse < best:
            best = mse
            iscale = isc
    sumlx = F0
    suml2 = F0
    for i in range(n):
        big |= not abs(iscale * x[i]) <= NI_MAX
        lv = min(qmax, np.rint(iscale * x[i]))
        out_l[i] = np.uint8(np.int64(lv) & 0xFF)
        sumlx += w[i] * x[i] * lv
        suml2 += w[i] * lv * lv
    for _ in range(5):
        changed = 0
        for i in range(n):
            li = np.float32(out_l[i])
            slx = sumlx - w[i] * x[i] * li
            sl2 = suml2 - w[i] * li * li
            if slx > F0 and sl2 > F0:
                big |= not abs(x[i] * sl2 / slx) <= NI_MAX
                new_l = min(qmax, np.rint(x[i] * sl2 / slx))
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
    return (sumlx / suml2 if suml2 > F0 else F0), big


@jit
def importance(x, qw, sigma, out):  # pragma: no cover - compiled
    """ggml's per-weight importance of one super-block: ``qw * sqrt(sigma2 + x^2)`` with
    ``sigma2 = sigma * sum(x^2) / 256`` (Q4_K and IQ1_M: sigma 2; Q2_K: 1)."""
    sum_x2 = F0
    for i in range(QK_K):
        sum_x2 += x[i] * x[i]
    sigma2 = sigma * sum_x2 / FQK
    for i in range(QK_K):
        out[i] = qw[i] * np.sqrt(sigma2 + x[i] * x[i])


@jit
def clamp(v, nmax):  # pragma: no cover - compiled; MAX(0, MIN(nmax, nearest_int(v))) in range
    return min(nmax, max(F0, np.rint(v)))


@jit
def requantize(x, d, m, nmax, lsearch, codes):  # pragma: no cover - compiled
    """One sub-block's final codes from its stored scale ``d`` and minimum ``m``:
    ``nearest_int((x + m) / d)`` clamped to 0..nmax, or the search's codes ``lsearch`` where
    ``d`` is 0 (ggml's ``if (!d) continue``). Returns how many left nearest_int's range."""
    big = 0
    for i in range(x.shape[0]):
        if d == F0:
            codes[i] = lsearch[i]
        else:
            q = (x[i] + m) / d
            big += not abs(q) <= NI_MAX
            codes[i] = np.uint8(clamp(q, nmax))
    return big


@jit
def _error(xt, wt, isc, mn, scale, minimum, out, n, nmax):  # pragma: no cover - compiled
    """``out[s]`` = the weighted squared error of lane s's codes at (isc, mn) read back as
    scale * code + minimum, summed first weight to last (make_qkx3_quants' best_mad / mad)."""
    for s in range(n):
        out[s] = F0
    for i in range(xt.shape[0]):
        for s in range(n):
            diff = scale[s] * clamp(isc[s] * (xt[i, s] - mn[s]), nmax) + minimum[s] - xt[i, s]
            out[s] += wt[i, s] * (diff * diff)


@jit
def _wraps(isc, mx, mn, lo, deg, n):  # pragma: no cover - compiled
    """Lanes whose codes at (isc, mn) may leave nearest_int's range: x - mn is bounded by the
    sub-block's own range [lo, mx]."""
    big = 0
    for s in range(n):
        span = max(abs(mx[s] - mn[s]), abs(lo[s] - mn[s]))
        big += not deg[s] and not abs(isc[s]) * span <= NI_BOUND
    return big


@jit
def _search(x, qw, lsearch, ls, lm, dm, sub, nmax, qmax, sigma):  # pragma: no cover - compiled
    """Per super-block: the sub-blocks' scale/min search (make_qkx3_quants, 36 steps) and the
    quantized scales of them (make_qp_quants). ``x``: (blocks, 256) float32 rows of
    super-blocks; ``qw``: (row_blocks, 256) the importance of a row's super-blocks (block b is
    row_block b % row_blocks); ``sub`` weights a sub-block, codes up to ``nmax``, scales up to
    ``qmax``, ``sigma2 = sigma * mean x^2``. Writes the search's codes, Ls, Lm and (d_block,
    m_block). Returns how many rounded values may have left nearest_int's range (0: the
    bytes are ggml's)."""
    nblocks = x.shape[0]
    big = 0
    row_blocks = qw.shape[0]
    nsub = QK_K // sub
    lanes = GROUP * nsub
    xt = np.empty((sub, lanes), np.float32)
    wt = np.empty((sub, lanes), np.float32)
    sw = np.empty(lanes, np.float32)
    mn = np.empty(lanes, np.float32)
    mx = np.empty(lanes, np.float32)
    lo = np.empty(lanes, np.float32)
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
    scales = np.empty(nsub, np.float32)
    mins = np.empty(nsub, np.float32)
    wrow = np.empty(QK_K, np.float32)
    for g0 in range(0, nblocks, GROUP):
        g = min(GROUP, nblocks - g0)
        n = g * nsub
        for k in range(g):
            b = g0 + k
            c = b % row_blocks
            importance(x[b], qw[c], sigma, wrow)
            for j in range(nsub):
                s = k * nsub + j
                sumw = F0
                for i in range(sub):
                    xt[i, s] = x[b, sub * j + i]
                    wt[i, s] = wrow[sub * j + i]
                    sumw += wrow[sub * j + i]
                sw[s] = sumw
        # make_qkx3_quants(sub, nmax, x, weights, L, &min, Laux, -0.9f, 0.05f, 36, false)
        for s in range(n):
            v = xt[0, s]
            mn[s] = v
            mx[s] = v
            sum_w[s] = wt[0, s]
            sum_x[s] = wt[0, s] * v
        for i in range(1, sub):
            for s in range(n):
                v = xt[i, s]
                if v < mn[s]:
                    mn[s] = v
                if v > mx[s]:
                    mx[s] = v
                sum_w[s] += wt[i, s]
                sum_x[s] += wt[i, s] * v
        for s in range(n):
            lo[s] = mn[s]  # the sub-block's own minimum: x - min is bounded by lo, mx, min
            if mn[s] > F0:
                mn[s] = F0
            deg[s] = mx[s] <= mn[s]
            isc[s] = nmax / (mx[s] - mn[s])
            scale[s] = F1 / isc[s]
        big += _wraps(isc, mx, mn, lo, deg, n)
        _error(xt, wt, isc, mn, scale, mn, best, n, nmax)
        # A lane's codes are those of the (iscale, min) pair of its best step (or the first
        # guess): recomputed at the end instead of copied at every improvement.
        for s in range(n):
            bisc[s] = isc[s]
            bmn[s] = mn[s]
        for step in range(37):
            for s in range(n):
                isc[s] = (RMIN + RDELTA * np.float32(step) + nmax) / (mx[s] - mn[s])
                acc[0, s] = F0
                acc[1, s] = F0
                acc[2, s] = F0
            big += _wraps(isc, mx, mn, lo, deg, n)
            for i in range(sub):
                for s in range(n):
                    lv = clamp(isc[s] * (xt[i, s] - mn[s]), nmax)
                    wl = wt[i, s] * lv
                    acc[0, s] += wl
                    acc[1, s] += wl * lv
                    acc[2, s] += wl * xt[i, s]
            for s in range(n):
                s_l, s_l2, s_xl = acc[0, s], acc[1, s], acc[2, s]
                d = sum_w[s] * s_l2 - s_l * s_l
                ok[s] = d > F0
                this_s = (sum_w[s] * s_xl - sum_x[s] * s_l) / d
                this_m = (s_l2 * sum_x[s] - s_l * s_xl) / d
                if this_m > F0:
                    this_m = F0
                    this_s = s_xl / s_l2
                t_s[s] = this_s
                t_m[s] = this_m
            _error(xt, wt, isc, mn, t_s, t_m, mad, n, nmax)
            for s in range(n):
                if ok[s] and mad[s] < best[s]:
                    best[s] = mad[s]
                    scale[s] = t_s[s]
                    bisc[s] = isc[s]
                    bmn[s] = mn[s]
                    mn[s] = t_m[s]
        for k in range(g):  # a lane whose weights are all equal (max <= min) keeps codes 0
            b = g0 + k  # and scale 0: 1 / (nmax / 0); its min never changes (its steps are nan)
            for j in range(nsub):
                s = k * nsub + j
                scales[j] = scale[s]
                mins[j] = -mn[s]
                for i in range(sub):
                    lv = clamp(bisc[s] * (xt[i, s] - bmn[s]), nmax)
                    lsearch[b, sub * j + i] = 0 if deg[s] else np.uint8(lv)
            w_sub = sw[k * nsub:(k + 1) * nsub]
            dm[b, 0], big_s = _qp_quants(scales, w_sub, ls[b], qmax)
            dm[b, 1], big_m = _qp_quants(mins, w_sub, lm[b], qmax)
            big += big_s + big_m
    return big


def search(x: np.ndarray, qw: np.ndarray, lsearch: np.ndarray, ls: np.ndarray, lm: np.ndarray,
           dm: np.ndarray, sub: int, nmax: float, qmax: float, sigma: float) -> int:
    """:func:`_search` with the type's constants as float32, as ggml's arithmetic has them (a
    Python float would make numba compute those steps in float64, and the bytes differ)."""
    return _search(x, qw, lsearch, ls, lm, dm, int(sub), np.float32(nmax), np.float32(qmax),
                   np.float32(sigma))

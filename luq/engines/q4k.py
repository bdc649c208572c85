"""ggml's Q4_K quantizer with an importance matrix: the same float32 arithmetic, as SIMD lanes.

``quantize_row_q4_K_impl`` (ggml-quants.c, what ``llama-quantize --imatrix`` runs for Q4_K)
searches 37 scales and minima for each 32-weight sub-block, one sub-block after another, in
scalar C: 57 ns a weight on this 2-core CPU, most of the time a 1.1B model's default variants
take. Here every sub-block's search is the same sequence of float32 operations, in the same
order (the sums run over a sub-block's 32 weights first to last, as in C), but 128 sub-blocks run
side by side as SIMD lanes, compiled by numba. The bytes are ggml's own: tests compare them with
``ggml_quantize_chunk`` on random, degenerate and real weights, and :func:`available` is False
(so :func:`luq.engines.ggml.quantize` calls ggml) when numba is missing, ``LUQ_GGML_ONLY`` is
set, or the machine is not x86-64.

Rounding: ggml's ``nearest_int`` adds 1.5 * 2^23 and reads the bits, which is round-half-even
for the magnitudes it asserts (< 2^22), i.e. ``rint``; beyond them (a sub-block whose range is
near float32's smallest, codes of a scale flushed to a tiny fp16, infinite or NaN weights)
the bits wrap. The kernels check every rounded value against that range (the search per lane
and step, by a bound on its sub-block) and :func:`quantize_rows` returns None when one falls
outside, so that ggml itself quantizes those rows. The fp16 scales are rounded by numpy
(round-half-even, as ggml's F16C and software conversions).
"""

from __future__ import annotations

import os
import platform

import numpy as np

from luq.engines.kq_search import QK_K, jit, numba, requantize, search

BLOCK_BYTES = 144  # fp16 d, fp16 dmin, 12 scale bytes, 128 bytes of 4-bit pairs
F2, F15, F63 = np.float32(2), np.float32(15), np.float32(63)  # sigma2 factor, code and scale max


def available() -> bool:
    """True when the lane-parallel path runs: numba present, ``LUQ_GGML_ONLY`` unset, and an
    x86-64 machine (the libggml wheel there multiplies and adds separately, as numba does; an
    aarch64 or Apple build of ggml may fuse them, and its bytes would differ)."""
    return (numba is not None and not os.environ.get("LUQ_GGML_ONLY")
            and platform.machine().lower() in ("x86_64", "amd64"))


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


@jit
def _codes(x, dm16, scb, lsearch, out):  # pragma: no cover - compiled
    """The final 4-bit codes with the stored (fp16, 6-bit) scales, packed into ``out``'s
    last 128 bytes of each block: ``nearest_int((x + dm) / d)``, or the search's codes where
    ``d`` is 0 (as ggml's ``if (!d) continue``). Returns how many left nearest_int's range."""
    big = 0
    codes = np.empty(QK_K, np.uint8)
    for b in range(x.shape[0]):
        for j in range(8):
            if j < 4:
                sc = np.float32(scb[b, j] & 63)
                m = np.float32(scb[b, j + 4] & 63)
            else:
                sc = np.float32((scb[b, j + 4] & 0xF) | ((scb[b, j - 4] >> 6) << 4))
                m = np.float32((scb[b, j + 4] >> 4) | ((scb[b, j] >> 6) << 4))
            lo = 32 * j
            big += requantize(x[b, lo:lo + 32], dm16[b, 0] * sc, dm16[b, 1] * m, F15,
                              lsearch[b, lo:lo + 32], codes[lo:lo + 32])
        for h in range(4):
            for i in range(32):
                out[b, 16 + 32 * h + i] = codes[64 * h + i] | (codes[64 * h + 32 + i] << 4)
    return big


def superblocks(weight: np.ndarray, imatrix: np.ndarray,
                name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``weight`` (rows, n_per_row) as float32 rows of 256-weight super-blocks and ``imatrix``
    as (n_per_row // 256, 256), what the lane kernels read; None when a value is not finite
    (ggml decides those rows). Raises ValueError when 256 does not divide n_per_row."""
    n = weight.shape[1]
    if n % QK_K:
        raise ValueError(f"{name} needs rows of a multiple of {QK_K} weights, got {n}")
    x = np.ascontiguousarray(weight, dtype=np.float32).reshape(-1, QK_K)
    qw = np.ascontiguousarray(imatrix, dtype=np.float32).reshape(n // QK_K, QK_K)
    if not (np.isfinite(x).all() and np.isfinite(qw).all()):
        return None
    return x, qw


def quantize_rows(weight: np.ndarray, imatrix: np.ndarray) -> np.ndarray | None:
    """Q4_K blocks of ``weight`` (rows, n_per_row; n_per_row a multiple of 256) with the
    importance ``imatrix`` (n_per_row,): ``(rows, n_per_row // 256 * 144)`` uint8, the bytes
    ``ggml_quantize_chunk(GGML_TYPE_Q4_K, ..., imatrix)`` writes; None where a value leaves
    the range in which they are ggml's (module docstring): the caller asks ggml then."""
    blocks = superblocks(weight, imatrix, "Q4_K")
    if blocks is None:
        return None
    x, qw = blocks
    rows, nb = weight.shape[0], x.shape[0]
    lsearch = np.empty((nb, QK_K), np.uint8)
    ls = np.empty((nb, 8), np.uint8)
    lm = np.empty((nb, 8), np.uint8)
    dm = np.empty((nb, 2), np.float32)
    if search(x, qw, lsearch, ls, lm, dm, 32, F15, F63, F2):
        return None
    with np.errstate(over="ignore"):  # a scale beyond fp16 is inf in ggml too
        dm16 = dm.astype(np.float16)  # GGML_FP32_TO_FP16: round half to even
    out = np.empty((nb, BLOCK_BYTES), np.uint8)
    out[:, 0:4] = dm16.view(np.uint8)
    out[:, 4:16] = _scale_bytes(ls, lm)
    if _codes(x, dm16.astype(np.float32), out[:, 4:16], lsearch, out):
        return None
    return out.reshape(rows, -1)

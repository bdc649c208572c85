"""ggml's Q2_K quantizer with an importance matrix: the same float32 arithmetic, as SIMD lanes.

``quantize_row_q2_K_impl`` (ggml-quants.c, what ``llama-quantize --imatrix`` runs for Q2_K)
searches 37 scales and minima for each 16-weight sub-block (``make_qkx3_quants(16, 3, ...)``)
and quantizes the 16 scales and minima of a super-block to 4 bits (``make_qp_quants(16, 15,
...)``), one sub-block after another in scalar C. It is Q4_K's search with other sizes, so
:func:`luq.engines.kq_search.search` runs it, 256 sub-blocks side by side; the final codes and
the block layout are Q2_K's own. The bytes are ggml's (tests compare them with
``ggml_quantize_chunk`` on the same inputs as Q4_K's); :mod:`luq.engines.q4k` says when the
lanes run and which values they hand back to ggml.
"""

from __future__ import annotations

import numpy as np

from luq.engines.kq_search import jit, requantize, search
from luq.engines.q4k import available, superblocks  # noqa: F401 - available: as for Q4_K

BLOCK_BYTES = 84  # 16 scale/min bytes, 64 bytes of 2-bit codes, fp16 d, fp16 dmin
SUB, NMAX, QMAX, SIGMA = 16, np.float32(3), np.float32(15), np.float32(1)


@jit
def _codes(x, dm16, scb, lsearch, out):  # pragma: no cover - compiled
    """The final 2-bit codes with the stored (fp16, 4-bit) scales, packed into ``out``'s bytes
    16-79 of each block: ``nearest_int((x + m) / d)``, or the search's codes where ``d`` is 0
    (ggml's ``if (!d) continue``). Returns how many left nearest_int's range."""
    big = 0
    codes = np.empty(256, np.uint8)
    for b in range(x.shape[0]):
        for j in range(16):
            lo = 16 * j
            big += requantize(x[b, lo:lo + 16], dm16[b, 0] * np.float32(scb[b, j] & 0xF),
                              dm16[b, 1] * np.float32(scb[b, j] >> 4), NMAX,
                              lsearch[b, lo:lo + 16], codes[lo:lo + 16])
        for h in range(2):
            for i in range(32):
                c = 128 * h + i
                out[b, 16 + 32 * h + i] = (codes[c] | (codes[c + 32] << 2) | (codes[c + 64] << 4)
                                           | (codes[c + 96] << 6))
    return big


def quantize_rows(weight: np.ndarray, imatrix: np.ndarray) -> np.ndarray | None:
    """Q2_K blocks of ``weight`` (rows, n_per_row; n_per_row a multiple of 256) with the
    importance ``imatrix`` (n_per_row,): ``(rows, n_per_row // 256 * 84)`` uint8, the bytes
    ``ggml_quantize_chunk(GGML_TYPE_Q2_K, ..., imatrix)`` writes; None where a value leaves
    the range in which they are ggml's: the caller asks ggml then."""
    blocks = superblocks(weight, imatrix, "Q2_K")
    if blocks is None:
        return None
    x, qw = blocks
    nb = x.shape[0]
    lsearch = np.empty((nb, 256), np.uint8)
    ls = np.empty((nb, SUB), np.uint8)
    lm = np.empty((nb, SUB), np.uint8)
    dm = np.empty((nb, 2), np.float32)
    if search(x, qw, lsearch, ls, lm, dm, SUB, NMAX, QMAX, SIGMA):
        return None
    with np.errstate(over="ignore"):  # a scale beyond fp16 is inf in ggml too
        dm16 = dm.astype(np.float16)  # GGML_FP32_TO_FP16: round half to even
    out = np.empty((nb, BLOCK_BYTES), np.uint8)
    out[:, 0:16] = ls | (lm << 4)
    out[:, 80:84] = dm16.view(np.uint8)
    if _codes(x, dm16.astype(np.float32), out[:, 0:16], lsearch, out):
        return None
    return out.reshape(weight.shape[0], -1)

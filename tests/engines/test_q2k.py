"""Q2_K's lane port (luq/engines/q2k.py): what it leaves to ggml, and the shared kernel's
float32 constants. The bytes on the shared cases: test_lanes.py."""

import numpy as np
import pytest

from luq.engines import ggml, q2k
from tests.engines.lane_cases import cases, ggml_bytes

pytestmark = pytest.mark.skipif(not q2k.available(), reason="numba missing or LUQ_GGML_ONLY set")


def test_a_code_beyond_nearest_int_s_range_is_left_to_ggml(monkeypatch):
    """One sub-block far below the rest makes the fp16 scale so small that (x + m) / d of the
    others passes 2^22, where ggml's nearest_int wraps (found by review): ggml decides."""
    rng = np.random.default_rng(9)
    row = np.full(256, -5, np.float32) + rng.uniform(0, 2.5e-6, 256).astype(np.float32)
    row[0:16] = -1000
    row[16:32] = -5 + rng.uniform(0, 1e-6, 16).astype(np.float32)
    weight, imatrix = np.tile(row, (3, 1)), np.ones(256, np.float32)
    assert q2k.quantize_rows(weight, imatrix) is None
    np.testing.assert_array_equal(ggml.quantize(weight, "Q2_K", imatrix, threads=2),
                                  ggml_bytes(weight, imatrix, "Q2_K", monkeypatch))


def test_the_kernel_takes_its_constants_as_float32_whatever_the_caller_passes():
    """Python numbers for the shared K-quant kernel's sizes would compile it in float64 (the
    bytes then drift from ggml's on rare rounding ties): the wrapper casts them."""
    from luq.engines import kq_search

    x, qw = q2k.superblocks(*cases()["normal"], "Q2_K")
    out = [np.empty((x.shape[0], n), t) for n, t in ((256, np.uint8), (16, np.uint8),
                                                      (16, np.uint8), (2, np.float32))]
    kq_search.search(x, qw, *out, 16, 3.0, 15, 1.0)
    kinds = {tuple(str(a) for a in sig[7:]) for sig in kq_search._search.signatures}
    assert kinds == {("float32", "float32", "float32")}

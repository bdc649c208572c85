"""Q4_K's lane port (luq/engines/q4k.py) leaves to ggml what its nearest_int would wrap. The
bytes on the shared cases: test_lanes.py."""

import numpy as np
import pytest

from luq.engines import ggml, q4k
from tests.engines.lane_cases import exotic, ggml_bytes

pytestmark = pytest.mark.skipif(not q4k.available(), reason="numba missing or LUQ_GGML_ONLY set")


@pytest.mark.parametrize("case", list(exotic()))
def test_values_beyond_nearest_int_s_range_are_left_to_ggml(case, monkeypatch):
    """The finite inputs a reviewer found (a tiny range, denormals, a flushed scale, fp16
    overflow): every one is handed to ggml. Non-finite ones: test_lanes.py."""
    weight, imatrix = exotic()[case]
    weight = np.tile(weight, (3, 1))
    assert q4k.quantize_rows(weight, imatrix) is None
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(ggml.quantize(weight, "Q4_K", imatrix, threads=2),
                                      ggml_bytes(weight, imatrix, "Q4_K", monkeypatch))

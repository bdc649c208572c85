"""ggml's Q4_K search with sub-blocks as SIMD lanes (luq/engines/q4k.py) writes ggml's bytes."""

import numpy as np
import pytest

from luq.engines import ggml, q4k
from tests.engines.lane_cases import (
    assert_ggml_bytes,
    cases,
    embedded_rows,
    exotic,
    ggml_bytes,
    non_finite,
)

pytestmark = pytest.mark.skipif(not q4k.available(), reason="numba missing or LUQ_GGML_ONLY set")


@pytest.mark.parametrize("case", list(cases()))
def test_the_lanes_write_ggml_s_own_bytes(case, monkeypatch):
    assert_ggml_bytes(q4k, "Q4_K", *cases()[case], monkeypatch)


def test_the_embedded_model_s_weights_give_ggml_s_bytes(monkeypatch):
    for weight, imatrix in embedded_rows().values():
        assert_ggml_bytes(q4k, "Q4_K", weight, imatrix, monkeypatch)


def test_ggml_quantize_takes_the_lanes_for_q4k_with_an_importance_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((33, 512), dtype=np.float32)  # an odd row count: two chunks
    imatrix = rng.random(512, dtype=np.float32)
    calls = []
    real = q4k.quantize_rows
    monkeypatch.setattr(q4k, "quantize_rows", lambda w, i: calls.append(w.shape) or real(w, i))
    fast = ggml.quantize(weight, "Q4_K", imatrix, threads=2)
    assert sorted(calls) == [(16, 512), (17, 512)]
    np.testing.assert_array_equal(fast, ggml_bytes(weight, imatrix, "Q4_K", monkeypatch))
    calls.clear()
    ggml.quantize(weight, "Q4_K", None)  # without a matrix ggml's own (different) search runs
    ggml.quantize(weight, "Q2_K", imatrix)
    assert calls == []


def test_rows_the_block_does_not_divide_are_refused():
    with pytest.raises(ValueError, match="multiple of 256"):
        q4k.quantize_rows(np.zeros((2, 384), np.float32), np.ones(384, np.float32))


@pytest.mark.parametrize("case", list(exotic()))
def test_values_beyond_nearest_int_s_range_are_left_to_ggml(case, monkeypatch):
    weight, imatrix = exotic()[case]
    weight = np.tile(weight, (3, 1))
    assert q4k.quantize_rows(weight, imatrix) is None
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(ggml.quantize(weight, "Q4_K", imatrix, threads=2),
                                      ggml_bytes(weight, imatrix, "Q4_K", monkeypatch))


@pytest.mark.parametrize("case", list(non_finite()))
def test_non_finite_values_are_not_the_lanes_to_decide(case):
    weight, imatrix = non_finite()[case]
    assert q4k.quantize_rows(np.tile(weight, (3, 1)), imatrix) is None

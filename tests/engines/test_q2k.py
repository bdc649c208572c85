"""ggml's Q2_K search with sub-blocks as SIMD lanes (luq/engines/q2k.py) writes ggml's bytes."""

import numpy as np
import pytest

from luq.engines import ggml, q2k
from tests.engines.lane_cases import (
    assert_ggml_bytes,
    cases,
    embedded_rows,
    exotic,
    ggml_bytes,
    non_finite,
)

pytestmark = pytest.mark.skipif(not q2k.available(), reason="numba missing or LUQ_GGML_ONLY set")


@pytest.mark.parametrize("case", list(cases()))
def test_the_lanes_write_ggml_s_own_bytes(case, monkeypatch):
    assert_ggml_bytes(q2k, "Q2_K", *cases()[case], monkeypatch)


def test_the_embedded_model_s_weights_give_ggml_s_bytes(monkeypatch):
    for weight, imatrix in embedded_rows().values():
        assert_ggml_bytes(q2k, "Q2_K", weight, imatrix, monkeypatch)


def test_ggml_quantize_takes_the_lanes_for_q2k_with_an_importance_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((33, 512), dtype=np.float32)  # an odd row count: two chunks
    imatrix = rng.random(512, dtype=np.float32)
    calls = []
    real = q2k.quantize_rows
    monkeypatch.setattr(q2k, "quantize_rows", lambda w, i: calls.append(w.shape) or real(w, i))
    fast = ggml.quantize(weight, "Q2_K", imatrix, threads=2)
    assert sorted(calls) == [(16, 512), (17, 512)]
    np.testing.assert_array_equal(fast, ggml_bytes(weight, imatrix, "Q2_K", monkeypatch))
    calls.clear()
    ggml.quantize(weight, "Q2_K", None)  # without a matrix ggml's own (different) search runs
    assert calls == []


@pytest.mark.parametrize("case", list(exotic()))
def test_exotic_values_give_ggml_s_bytes_by_one_path_or_the_other(case, monkeypatch):
    """Q4_K's nearest_int cases: the lanes hand back what may wrap; the bytes are ggml's."""
    weight, imatrix = exotic()[case]
    weight = np.tile(weight, (3, 1))
    ours = q2k.quantize_rows(weight, imatrix)
    with np.errstate(all="ignore"):
        theirs = ggml_bytes(weight, imatrix, "Q2_K", monkeypatch)
        np.testing.assert_array_equal(ggml.quantize(weight, "Q2_K", imatrix, threads=2), theirs)
    if ours is not None:
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("case", list(non_finite()))
def test_non_finite_values_are_not_the_lanes_to_decide(case):
    weight, imatrix = non_finite()[case]
    assert q2k.quantize_rows(np.tile(weight, (3, 1)), imatrix) is None


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

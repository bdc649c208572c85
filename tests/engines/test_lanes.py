"""Every lane-parallel port of a ggml quantizer (``luq.engines.ggml.LANES``: Q4_K, Q2_K, IQ1_M
with an importance matrix) writes ggml's own bytes, or hands the rows back to ggml."""

from importlib import import_module

import numpy as np
import pytest

from luq.engines import ggml
from tests.engines.lane_cases import (
    assert_ggml_bytes,
    cases,
    embedded_rows,
    exotic,
    ggml_bytes,
    non_finite,
)

TYPES = sorted(ggml.LANES)


def lanes(name):
    module = import_module(f"luq.engines.{ggml.LANES[name]}")
    if not module.available():
        pytest.skip("numba missing, LUQ_GGML_ONLY set or not x86-64")
    return module


@pytest.mark.parametrize("case", list(cases()))
@pytest.mark.parametrize("name", TYPES)
def test_the_lanes_write_ggml_s_own_bytes(name, case, monkeypatch):
    assert_ggml_bytes(lanes(name), name, *cases()[case], monkeypatch)


@pytest.mark.parametrize("name", TYPES)
def test_the_embedded_model_s_weights_give_ggml_s_bytes(name, monkeypatch):
    for weight, imatrix in embedded_rows().values():
        assert_ggml_bytes(lanes(name), name, weight, imatrix, monkeypatch)


@pytest.mark.parametrize("name", TYPES)
def test_ggml_quantize_takes_the_lanes_with_an_importance_matrix(name, monkeypatch):
    module = lanes(name)
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((33, 512), dtype=np.float32)  # an odd row count: two chunks
    imatrix = rng.random(512, dtype=np.float32)
    calls = []
    real = module.quantize_rows
    monkeypatch.setattr(module, "quantize_rows", lambda w, i: calls.append(w.shape) or real(w, i))
    fast = ggml.quantize(weight, name, imatrix, threads=2)
    assert sorted(calls) == [(16, 512), (17, 512)]
    np.testing.assert_array_equal(fast, ggml_bytes(weight, imatrix, name, monkeypatch))
    calls.clear()
    if not ggml.requires_imatrix(name):
        ggml.quantize(weight, name, None)  # without a matrix ggml's own (other) search runs
    ggml.quantize(weight, "IQ1_S", imatrix)  # a type without lanes
    assert calls == []


@pytest.mark.parametrize("name", TYPES)
def test_rows_the_block_does_not_divide_are_refused(name):
    with pytest.raises(ValueError, match="multiple of 256"):
        lanes(name).quantize_rows(np.zeros((2, 384), np.float32), np.ones(384, np.float32))


@pytest.mark.parametrize("case", list(exotic()))
@pytest.mark.parametrize("name", TYPES)
def test_exotic_values_give_ggml_s_bytes_by_one_path_or_the_other(name, case, monkeypatch):
    """Near nearest_int's range (a reviewer's inputs for Q4_K): the lanes write ggml's bytes
    or hand the rows to ggml; ``ggml.quantize`` gives ggml's bytes either way."""
    weight, imatrix = exotic()[case]
    weight = np.tile(weight, (3, 1))
    ours = lanes(name).quantize_rows(weight, imatrix)
    with np.errstate(all="ignore"):
        theirs = ggml_bytes(weight, imatrix, name, monkeypatch)
        np.testing.assert_array_equal(ggml.quantize(weight, name, imatrix, threads=2), theirs)
    if ours is not None:
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("case", list(non_finite()))
@pytest.mark.parametrize("name", TYPES)
def test_non_finite_values_are_not_the_lanes_to_decide(name, case):
    weight, imatrix = non_finite()[case]
    assert lanes(name).quantize_rows(np.tile(weight, (3, 1)), imatrix) is None

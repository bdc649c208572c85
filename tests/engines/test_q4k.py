"""ggml's Q4_K search with sub-blocks as SIMD lanes (luq/engines/q4k.py) writes ggml's bytes."""

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from luq.engines import ggml, q4k

pytestmark = pytest.mark.skipif(not q4k.available(), reason="numba missing or LUQ_GGML_ONLY set")

EMBEDDED = Path(__file__).resolve().parents[2] / "assets" / "embedded" / "model.safetensors"


def _ggml_bytes(weight, imatrix, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv("LUQ_GGML_ONLY", "1")
        assert not q4k.available()
        return ggml.quantize(weight, "Q4_K", imatrix, threads=1)


def _cases():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((24, 1024), dtype=np.float32)
    imat = rng.random(1024, dtype=np.float32) + 0.05
    zero_cols = w.copy()
    zero_cols[:, :300] = 0  # whole sub-blocks of zeros: the degenerate branch
    one_zero_block = w.copy()
    one_zero_block[3, 256:288] = 0
    constant = np.full_like(w, -0.5)  # max <= min after clamping: the other degenerate branch
    constant[1] = 0.25  # all positive and equal: min clamped to 0
    sparse_imat = imat.copy()
    sparse_imat[::3] = 0
    return {
        "normal": (w, imat),
        "tiny magnitudes": (w * np.float32(1e-9), imat),
        "large magnitudes": (w * np.float32(1e4), imat),
        "zero sub-blocks": (zero_cols, imat),
        "one zero sub-block": (one_zero_block, imat),
        "all positive": (np.abs(w), imat),
        "all negative": (-np.abs(w), imat),
        "constant rows": (constant, imat),
        "imatrix with zeros": (w, sparse_imat),
        "imatrix all ones": (w, np.ones(1024, np.float32)),
        "heavy tails": (rng.standard_t(1.5, size=(24, 1024)).astype(np.float32), imat ** 4),
        "fp16-rounded": (w.astype(np.float16).astype(np.float32), imat),
        "one outlier per row": (w + 50 * (rng.random((24, 1024)) > 0.999), imat),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_the_lanes_write_ggml_s_own_bytes(case, monkeypatch):
    weight, imatrix = _cases()[case]
    ours = q4k.quantize_rows(weight, imatrix)
    theirs = _ggml_bytes(weight, imatrix, monkeypatch)
    assert ours.shape == theirs.shape == (24, 4 * q4k.BLOCK_BYTES)
    np.testing.assert_array_equal(ours, theirs)


def test_the_embedded_model_s_weights_give_ggml_s_bytes(monkeypatch):
    tensors = load_file(EMBEDDED)
    names = [n for n, t in tensors.items()
             if n.endswith("proj.weight") and t.ndim == 2 and t.shape[1] % 256 == 0][:3]
    assert names, "the embedded model has no 256-wide linear rows"
    rng = np.random.default_rng(3)
    for name in names:
        weight = tensors[name].astype(np.float32).astype(np.float16).astype(np.float32)
        imatrix = (rng.gamma(0.5, size=weight.shape[1]) + 1e-6).astype(np.float32)
        np.testing.assert_array_equal(q4k.quantize_rows(weight, imatrix),
                                      _ggml_bytes(weight, imatrix, monkeypatch), err_msg=name)


def test_ggml_quantize_takes_the_lanes_for_q4k_with_an_importance_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((33, 512), dtype=np.float32)  # an odd row count: two chunks
    imatrix = rng.random(512, dtype=np.float32)
    calls = []
    real = q4k.quantize_rows
    monkeypatch.setattr(q4k, "quantize_rows", lambda w, i: calls.append(w.shape) or real(w, i))
    fast = ggml.quantize(weight, "Q4_K", imatrix, threads=2)
    assert sorted(calls) == [(16, 512), (17, 512)]
    np.testing.assert_array_equal(fast, _ggml_bytes(weight, imatrix, monkeypatch))
    calls.clear()
    ggml.quantize(weight, "Q4_K", None)  # without a matrix ggml's own (different) search runs
    ggml.quantize(weight, "Q2_K", imatrix)
    assert calls == []


def test_rows_the_block_does_not_divide_are_refused():
    with pytest.raises(ValueError, match="multiple of 256"):
        q4k.quantize_rows(np.zeros((2, 384), np.float32), np.ones(384, np.float32))


def _exotic():
    """Inputs where ggml's ``nearest_int`` leaves the range in which it equals ``rint``
    (found by a reviewer of the port), one 256-weight row each."""
    rng = np.random.default_rng(5)

    def row():
        return rng.standard_normal(256).astype(np.float32) * np.float32(0.02)

    tiny_range = row()
    tiny_range[0:32] = 0
    tiny_range[5] = 1e-39  # 15 / (max - min) overflows to inf
    denormals = row()
    denormals[0:32] = 1e-39
    denormals[5], denormals[7] = 2e-39, 0
    flushed = np.full(256, -5, np.float32) + rng.uniform(0, 1e-3, 256).astype(np.float32)
    flushed[0:32] = -1000
    flushed[64:96] = -5 + rng.uniform(0, 1.5e-5, 32).astype(np.float32)  # x / d beyond 2^22
    huge_min = row()
    huge_min[0:32] = -1e7
    huge_min[32:64] = -1e7 + rng.uniform(0, 10, 32).astype(np.float32)  # dmin overflows fp16
    infinite, nan = row(), row()
    infinite[3], nan[9] = np.inf, np.nan
    ones = np.ones(256, np.float32)
    return {"tiny range": (tiny_range, ones), "denormals": (denormals, ones),
            "scale flushed": (flushed, ones), "fp16 overflow": (huge_min, ones),
            "inf weight": (infinite, ones), "nan weight": (nan, ones),
            "inf importance": (row(), np.where(np.arange(256) == 4, np.inf, 1).astype(np.float32))}


@pytest.mark.parametrize("case", list(_exotic()))
def test_values_beyond_nearest_int_s_range_are_left_to_ggml(case, monkeypatch):
    weight, imatrix = _exotic()[case]
    weight = np.tile(weight, (3, 1))
    assert q4k.quantize_rows(weight, imatrix) is None
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(ggml.quantize(weight, "Q4_K", imatrix, threads=2),
                                      _ggml_bytes(weight, imatrix, monkeypatch))

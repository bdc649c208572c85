"""Inputs on which a lane-parallel port of a ggml quantizer (luq/engines/q4k.py, iq1m.py) must
write ggml's own bytes, and ggml's bytes for them."""

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from luq.engines import ggml

EMBEDDED = Path(__file__).resolve().parents[2] / "assets" / "embedded" / "model.safetensors"


def ggml_bytes(weight, imatrix, name, monkeypatch):
    """What ggml itself writes (the lanes switched off)."""
    with monkeypatch.context() as m:
        m.setenv("LUQ_GGML_ONLY", "1")
        assert ggml.lanes_for(name) is None
        return ggml.quantize(weight, name, imatrix, threads=1)


def assert_ggml_bytes(lanes, name, weight, imatrix, monkeypatch):
    """``lanes.quantize_rows`` writes what ggml writes for ``name``, to the byte."""
    ours = lanes.quantize_rows(weight, imatrix)
    theirs = ggml_bytes(weight, imatrix, name, monkeypatch)
    assert ours.shape == theirs.shape == (weight.shape[0],
                                          weight.shape[1] // 256 * lanes.BLOCK_BYTES)
    np.testing.assert_array_equal(ours, theirs)


def embedded_rows():
    """Three of the embedded model's 256-wide linear weights (fp16-rounded, as the ``ggml``
    method quantizes them), each with a random importance matrix."""
    tensors = load_file(EMBEDDED)
    names = [n for n, t in tensors.items()
             if n.endswith("proj.weight") and t.ndim == 2 and t.shape[1] % 256 == 0][:3]
    assert names, "the embedded model has no 256-wide linear rows"
    rng = np.random.default_rng(3)
    return {name: (tensors[name].astype(np.float32).astype(np.float16).astype(np.float32),
                   (rng.gamma(0.5, size=tensors[name].shape[1]) + 1e-6).astype(np.float32))
            for name in names}


def cases():
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
    zero_stretches = imat.copy()  # IQ1_M finds no split (besti1 < 0); all scales 0 in one
    zero_stretches[16:48] = 0
    zero_stretches[256:512] = 0
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
        "coarse values, many ties": (np.round(w * 8) / np.float32(8), imat),
        "importance zero over whole sub-blocks and a super-block": (w, zero_stretches),
        "sub-blocks below 1e-7": (np.where(np.arange(1024) % 64 < 16, w * np.float32(1e-8), w)
                                  .astype(np.float32), imat),
    }


def exotic():
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
    ones = np.ones(256, np.float32)
    return {"tiny range": (tiny_range, ones), "denormals": (denormals, ones),
            "scale flushed": (flushed, ones), "fp16 overflow": (huge_min, ones)}


def non_finite():
    """A NaN or an infinity in the weight or the importance, one 256-weight row each."""
    rng = np.random.default_rng(6)
    infinite, nan, row = (rng.standard_normal(256).astype(np.float32) for _ in range(3))
    infinite[3], nan[9] = np.inf, np.nan
    ones = np.ones(256, np.float32)
    return {"inf weight": (infinite, ones), "nan weight": (nan, ones),
            "inf importance": (row, np.where(np.arange(256) == 4, np.inf, 1).astype(np.float32)),
            "nan importance": (row, np.where(np.arange(256) == 8, np.nan, 1).astype(np.float32))}

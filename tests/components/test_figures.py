"""Figures a slider move shows are built once per distinct plan."""

from components import figures

PLAN = {"layers": [{"name": "m.layers.0", "method": "ggml", "bits": 1, "type": "Q1_0"},
                   {"name": "m.layers.1", "method": "ggml", "bits": 4, "type": "Q4_K"}]}


def test_a_figure_is_built_once_per_distinct_arguments(monkeypatch):
    monkeypatch.setattr(figures, "CACHED_FIGURES", 2)
    figures._CACHE.clear()
    first = figures.cached(figures.bit_bars, PLAN)
    assert figures.cached(figures.bit_bars, {**PLAN}) is first  # equal JSON: the same figure
    other = {"layers": PLAN["layers"][:1]}
    assert figures.cached(figures.bit_bars, other) is not first
    assert list(first.data[0].text) == ["Q1_0", "Q4_K"]
    figures.cached(figures.memory_breakdown, {"decoder": 3_000_000})
    assert len(figures._CACHE) == 2  # the least recently used went
    assert figures.cached(figures.bit_bars, PLAN) is not first  # built again

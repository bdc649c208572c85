"""The decode-cost fit and the ultra-low pair score, on made-up timings (the real runs take
minutes of llama.cpp)."""

import pytest

from benchmarks.decode_costs import fit
from benchmarks.ultra_low_types import common_area


def test_the_fit_recovers_each_types_cost_and_the_constant():
    hidden, intermediate, vocab, blocks = 256, 512, 1000, 4
    w = 2 * hidden * hidden + 2 * hidden * 64 + 3 * hidden * intermediate
    k = {"Q4_K": 0.3, "Q1_0": 0.2, "IQ1_M": 0.5, "Q6_K": 0.4}  # ns per weight
    c = 1e-4 + hidden * vocab * k["Q6_K"] * 1e-9  # the head plus 0.1 ms of the rest
    files = {"Q4_K x1": ("", 1, "Q4_K"), **{f"{t} x{blocks}": ("", blocks, t) for t in k}}
    seconds = {label: c + layers * w * k[t] * 1e-9 for label, (_, layers, t) in files.items()}
    costs, constants = fit(files, seconds, blocks, hidden, intermediate, vocab)
    assert costs == pytest.approx(k)
    assert constants["constant_s"] == pytest.approx(c)
    assert constants["unaccounted_s"] == pytest.approx(1e-4)


def test_a_curve_counts_zero_below_its_smallest_plan():
    curve = [{"memory_bytes": 2.0, "accuracy": 1.0}, {"memory_bytes": 4.0, "accuracy": 1.0}]
    assert common_area(curve, 2.0, 4.0) == pytest.approx(1.0)
    assert common_area(curve, 0.0, 4.0) == pytest.approx(0.5, abs=1e-3)  # nothing fits < 2

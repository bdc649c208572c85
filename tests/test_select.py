import pytest

from luq.memory import model_layout, plan_memory
from luq.quant import QuantSpec
from luq.select import budget_range, greedy_select, layer_order

HIGH, LOW = QuantSpec("rtn", 4, 32), QuantSpec("billm", 1, 32)


@pytest.fixture
def layout(tiny_llava):
    return model_layout(tiny_llava.model)


def test_orders(layout):
    names = layout.block_names
    scores = [5.0, 1.0, 3.0, 2.0, 4.0, 0.5]
    assert layer_order(names, "entropy", scores) == [names[i] for i in (5, 1, 3, 2, 4, 0)]
    assert layer_order(names, "entropy-desc", scores) == [names[i] for i in (0, 4, 2, 3, 1, 5)]
    assert layer_order(names, "depth") == names
    assert layer_order(names, "random", seed=1) == layer_order(names, "random", seed=1)
    assert sorted(layer_order(names, "random", seed=1)) == sorted(names)
    with pytest.raises(ValueError, match="needs one score"):
        layer_order(names, "entropy")
    with pytest.raises(ValueError, match="known: entropy"):
        layer_order(names, "alphabetical")


def test_budget_respected_and_monotone(layout):
    lo, hi = budget_range(layout, HIGH, LOW)
    ordered = layer_order(layout.block_names, "depth")
    previous = None
    for budget in range(lo, hi + 1, (hi - lo) // 25):
        sel = greedy_select(layout, ordered, HIGH, LOW, budget)
        assert sel.memory.total_bytes <= budget
        assert plan_memory(layout, sel.plan).total_bytes == sel.plan.memory_bytes
        if previous is not None:
            assert sel.n_low <= previous  # more budget never needs more ultra-low blocks
        previous = sel.n_low


def test_impossible_and_generous_budgets(layout):
    lo, hi = budget_range(layout, HIGH, LOW)
    ordered = layout.block_names
    with pytest.raises(ValueError, match=f"smallest possible plan is {lo / 1e6:.3f} MB"):
        greedy_select(layout, ordered, HIGH, LOW, lo - 1)
    sel = greedy_select(layout, ordered, HIGH, LOW, hi + 10)
    assert sel.n_low == 0 and "no block needs to go ultra-low" in sel.note
    assert greedy_select(layout, ordered, HIGH, LOW, lo).n_low == len(ordered)


def test_performance_threshold_stops_before_crossing(layout):
    ordered = layout.block_names
    accuracy = {n: 1.0 - 0.1 * n for n in range(7)}  # each ultra-low block costs 0.1

    def evaluate(plan):
        return accuracy[plan.count(LOW)]

    sel = greedy_select(layout, ordered, HIGH, LOW, evaluate=evaluate, min_accuracy=0.75)
    assert sel.n_low == 2 and "below 0.7500" in sel.note
    assert [t["accuracy"] for t in sel.trace] == pytest.approx([1.0, 0.9, 0.8])

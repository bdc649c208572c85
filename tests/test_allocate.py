"""The allocator against brute force: it finds the least-damage assignment in every budget."""

import itertools
import random

import pytest

from luq.allocate import allocate, block_costs, frontier_plan, pareto_frontier
from luq.memory import BlockLayout, ModelLayout, plan_memory
from luq.quant.spec import QuantSpec


def brute(costs, budget, times=None, limit=None):
    """(bytes, damage) of the least-damage assignment within ``budget`` (and ``limit``)."""
    best = None
    for choice in itertools.product(*(range(len(b)) for b in costs)):
        nbytes = sum(costs[i][k][0] for i, k in enumerate(choice))
        damage = sum(costs[i][k][1] for i, k in enumerate(choice))
        fast = times is None or sum(times[i][k] for i, k in enumerate(choice)) <= limit
        if nbytes <= budget and fast and (best is None or damage < best[1] - 1e-12):
            best = (nbytes, damage)
    return best


def random_case(seed):
    """A few blocks, a few candidates: (rng, blocks, candidates, (bytes, damage) per pair)."""
    rng = random.Random(seed)
    blocks, k = rng.randint(1, 6), rng.randint(1, 4)
    costs = [[(rng.randint(1, 30), rng.choice([0.0, rng.random() * 10])) for _ in range(k)]
             for _ in range(blocks)]
    return rng, blocks, k, costs


@pytest.mark.parametrize("seed", range(40))
def test_frontier_is_the_optimum_of_every_budget(seed):
    _, blocks, _, costs = random_case(seed)
    frontier = pareto_frontier(costs)
    assert list(frontier.bytes) == sorted(frontier.bytes)
    assert all(a > b for a, b in zip(frontier.damage, frontier.damage[1:]))  # strictly better
    for budget in range(0, 30 * blocks + 2):
        expected = brute(costs, budget)
        index = frontier.best(budget)
        if expected is None:
            assert index is None
            continue
        assert frontier.damage[index] == pytest.approx(expected[1])
        choice = frontier.choices[index]
        assert sum(costs[i][c][0] for i, c in enumerate(choice)) == frontier.bytes[index]
        assert frontier.bytes[index] <= budget


def test_the_docstring_example():
    f = pareto_frontier([[(1, 5.0), (2, 0.0)], [(1, 5.0), (2, 0.0)]])
    assert (f.bytes, f.damage) == ((2, 3, 4), (10.0, 5.0, 0.0))


def layout(n: int = 4) -> ModelLayout:
    linears = (("q", (256, 256)), ("up", (512, 256)), ("down", (256, 512)))
    blocks = tuple(BlockLayout(f"m.layers.{i}", tuple((f"m.layers.{i}.{s}", shape)
                                                      for s, shape in linears), 512)
                   for i in range(n))
    return ModelLayout("llava", blocks, (("embeddings", 1000),))


def test_allocate_spends_the_budget_where_damage_is():
    specs = [QuantSpec.ggml(t) for t in ("IQ1_M", "Q2_K", "Q4_K")]
    damage = {"IQ1_M": [5.0, 0.1, 0.2, 9.0], "Q2_K": [1.0, 0.05, 0.1, 2.0],
              "Q4_K": [0.0, 0.0, 0.0, 0.0]}
    lay = layout()
    full = plan_memory(lay, allocate(lay, specs, damage, 10**9)).total_bytes
    assert all(a.spec.type == "Q4_K" for a in allocate(lay, specs, damage, full).layers)
    cheap = allocate(lay, specs, damage, full - 1)  # one block must give
    assert [a.spec.type for a in cheap.layers] == ["Q4_K", "Q2_K", "Q4_K", "Q4_K"]
    assert cheap.order == "allocate" and cheap.memory_bytes <= full - 1
    costs = block_costs(lay, specs, damage)
    smallest = sum(c[0][0] for c in costs) + 1000 * 2 + 4 * 512 * 2
    assert [a.spec.type for a in allocate(lay, specs, damage, smallest).layers] == ["IQ1_M"] * 4
    with pytest.raises(ValueError, match="below the smallest plan"):
        allocate(lay, specs, damage, smallest - 1)


@pytest.fixture(scope="module")
def session():
    from luq.models.loading import load_model
    from luq.session import Session

    return Session(load_model("embedded"))


HIGH, LOW = QuantSpec.ggml("Q4_K"), QuantSpec.ggml("IQ1_M")


def test_allocated_plan_fits_and_beats_entropy_order_on_the_embedded_model(session):
    from luq.damage import allocate_curve, candidates

    _, budget, _ = session.budget_range(HIGH, LOW)
    sel = session.plan_for_budget(budget, HIGH, LOW, order="allocate")
    assert sel.plan.order == "allocate" and sel.memory.total_bytes <= budget
    assert {a.spec for a in sel.plan.layers} <= set(candidates(HIGH, LOW))
    entropy = session.plan_for_budget(budget, HIGH, LOW, order="entropy")
    assert session.accuracy(sel.plan) >= session.accuracy(entropy.plan)
    floor = session.plan_for_accuracy(0.9, HIGH, LOW, order="allocate")
    assert session.accuracy(floor.plan) >= 0.9 and floor.trace
    curve = allocate_curve(session, HIGH, LOW, measure=False)  # only what is known
    assert all(p["accuracy"] is not None for p in curve)


@pytest.mark.parametrize("seed", range(40))
def test_timed_frontier_is_the_optimum_of_every_budget_within_the_time_limit(seed):
    rng, blocks, k, costs = random_case(seed)
    times = [[rng.randint(1, 20) for _ in range(k)] for _ in range(blocks)]
    limit = rng.randint(blocks, 20 * blocks)
    frontier = pareto_frontier(costs, (), times, limit)
    assert all(a > b for a, b in zip(frontier.damage, frontier.damage[1:]))
    for budget in range(0, 30 * blocks + 2):
        expected = brute(costs, budget, times, limit)
        index = frontier.best(budget)
        if expected is None:
            assert index is None
            continue
        assert frontier.damage[index] == pytest.approx(expected[1])
        choice = frontier.choices[index]
        assert sum(times[i][c] for i, c in enumerate(choice)) <= limit
        assert sum(costs[i][c][0] for i, c in enumerate(choice)) == frontier.bytes[index]


def test_a_minimum_speed_keeps_slow_types_out(tmp_path, monkeypatch):
    from luq.damage import speed_limits
    from luq.speed import DecodeCosts, relative_speed, save_costs

    monkeypatch.setenv("LUQ_CACHE_DIR", str(tmp_path))
    save_costs(DecodeCosts((("IQ1_M", 0.5), ("Q1_0", 0.2), ("Q4_K", 0.3), ("Q6_K", 0.4)), 2,
                           "2026-12-04", "test", "test"))
    specs = [QuantSpec.ggml(t) for t in ("IQ1_M", "Q1_0", "Q4_K")]
    damage = {"IQ1_M": [1.0] * 4, "Q1_0": [3.0] * 4, "Q4_K": [0.0] * 4}
    lay = layout()
    costs = block_costs(lay, specs, damage)
    budget = sum(c[0][0] for c in costs) + 1000 * 2 + 4 * 512 * 2  # all IQ1_M-sized
    free = allocate(lay, specs, damage, budget + 10**4)
    assert {a.spec.type for a in free.layers} == {"IQ1_M"}  # least damage: IQ1_M (slow)
    times, limit = speed_limits(lay, specs, 1.0)
    frontier = pareto_frontier(costs, specs, times, limit)

    fast = frontier_plan(lay, frontier, budget + 10**4)  # what speed_limits allowed
    table = DecodeCosts((("IQ1_M", 0.5), ("Q1_0", 0.2), ("Q4_K", 0.3), ("Q6_K", 0.4)), 2, "",
                        "", "")
    assert relative_speed(lay, free, table) < 1.0
    assert relative_speed(lay, fast, table) >= 1.0
    assert "Q1_0" in {a.spec.type for a in fast.layers}
    with pytest.raises(ValueError, match="above 0"):
        speed_limits(lay, specs, 0.0)

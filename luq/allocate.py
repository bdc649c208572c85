"""The allocator: one setting per decoder block, minimising summed measured damage in a budget.

Measuring damage, choosing a plan and building variants are three steps with plain data
between them (ExLlamaV3's measure -> optimise -> compile): the damage table comes from the
sensitivity probe (each block alone at each candidate setting, the others at the base, KL of
next-token distributions from the full model, :mod:`luq.sensitivity`); this module only
chooses.

The choice is exact, not a greedy or a Lagrangian relaxation: a dynamic programme over blocks
keeps the Pareto frontier of (bytes, summed damage) over every assignment of the blocks seen
so far, pruning dominated states, so every budget's optimum is on the final frontier. Blocks
of one shape make few distinct byte totals, so the frontier stays small (hundreds of states
for 32 blocks and 4 settings), and one frontier answers every budget of a slider at once.
A minimum decode speed (:mod:`luq.speed`'s predicted time of each block at each candidate)
adds time to the state; the frontier is then exact among the plans that meet it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from luq.memory import ModelLayout, plan_memory
from luq.plan import BitPlan, LayerAssignment
from luq.quant.registry import weight_nbytes
from luq.quant.spec import QuantSpec


@dataclass(frozen=True)
class Frontier:
    """Every Pareto-optimal assignment, cheapest first.

    Attributes:
        specs: the candidate settings, in the order ``choices`` index them.
        bytes: decoder linear bytes of each assignment, increasing.
        damage: its summed damage, decreasing.
        choices: per assignment, the candidate index of each block (depth order).
    """

    specs: tuple[QuantSpec, ...]
    bytes: tuple[int, ...]
    damage: tuple[float, ...]
    choices: tuple[tuple[int, ...], ...]

    def best(self, budget: int) -> int | None:
        """Index of the least-damage assignment within ``budget`` bytes (None: none fits)."""
        i = bisect_right(self.bytes, budget) - 1
        return i if i >= 0 else None


def pareto_frontier(costs: Sequence[Sequence[tuple[int, float]]],
                    specs: Sequence[QuantSpec] = (),
                    times: Sequence[Sequence[int]] | None = None,
                    time_limit: int | None = None) -> Frontier:
    """The exact frontier of ``sum(bytes)`` against ``sum(damage)`` over all assignments, or
    over those whose summed time is within ``time_limit`` (a minimum decode speed).

    With a time limit the states are (bytes, time, damage): two states of equal bytes and time
    keep the one of less damage, a state of equal bytes, more time and no less damage than
    another is dropped, and a state that cannot meet the limit even with every later block at
    its fastest candidate is dropped; the assignments left within the limit then give the
    (bytes, damage) frontier. Blocks of one shape make few distinct (bytes, time) sums.

    Args:
        costs: ``costs[block][k] = (bytes, damage)`` of block ``block`` at candidate ``k``.
        specs: the candidates, recorded in the result.
        times: ``times[block][k]``, an integer time (e.g. picoseconds per decoded token).
        time_limit: the largest summed time allowed (with ``times``).

    Example:
        two blocks, candidates (1 byte, damage 5) and (2 bytes, damage 0): the frontier is
        2 bytes / 10, 3 bytes / 5, 4 bytes / 0.
    """
    if times is None or time_limit is None:
        states: list[tuple[int, float, tuple[int, ...]]] = [(0, 0.0, ())]
        for block in costs:
            grown = sorted(((b + cb, d + cd, c + (k,)) for b, d, c in states
                            for k, (cb, cd) in enumerate(block)), key=lambda s: (s[0], s[1]))
            states = _pareto(grown)
    else:
        states = _timed_states(costs, times, time_limit)
    return Frontier(tuple(specs), tuple(s[0] for s in states), tuple(s[1] for s in states),
                    tuple(s[2] for s in states))


def _pareto(grown: list) -> list:
    """States sorted by (bytes, damage) -> those with less damage than every cheaper one."""
    kept: list = []
    for state in grown:
        if not kept or state[1] < kept[-1][1]:
            kept.append(state)
    return kept


def _timed_states(costs, times, time_limit: int) -> list:
    rest = [0] * (len(costs) + 1)  # the least time the blocks after each one can take
    for i in range(len(costs) - 1, -1, -1):
        rest[i] = rest[i + 1] + min(times[i])
    states: dict[tuple[int, int], tuple[float, tuple[int, ...]]] = {(0, 0): (0.0, ())}
    for i, block in enumerate(costs):
        grown: dict[tuple[int, int], tuple[float, tuple[int, ...]]] = {}
        for (b, t), (d, c) in states.items():
            for k, (cb, cd) in enumerate(block):
                key = (b + cb, t + times[i][k])
                if key[1] + rest[i + 1] > time_limit:
                    continue
                if key not in grown or d + cd < grown[key][0]:
                    grown[key] = (d + cd, c + (k,))
        states, best = {}, {}
        for key in sorted(grown):  # by bytes, then time: drop slower, no better states
            if grown[key][0] < best.get(key[0], float("inf")):
                best[key[0]] = grown[key][0]
                states[key] = grown[key]
    return _pareto(sorted(((b, d, c) for (b, _), (d, c) in states.items()),
                          key=lambda s: (s[0], s[1])))


def block_costs(layout: ModelLayout, specs: Sequence[QuantSpec],
                damage: dict[str, Sequence[float]]) -> list[list[tuple[int, float]]]:
    """``(bytes, damage)`` of every block at every candidate.

    Args:
        layout: the model's shapes.
        specs: candidate settings.
        damage: per candidate label, the damage of each block (depth order) at it, the other
            blocks at the base (the base's own entry is all zeros).
    """
    return [[(sum(weight_nbytes(shape, s) for _, shape in block.linears),
              float(damage[s.label][i])) for s in specs]
            for i, block in enumerate(layout.blocks)]


def allocate(layout: ModelLayout, specs: Sequence[QuantSpec],
             damage: dict[str, Sequence[float]], budget_bytes: int,
             parts: dict | None = None, model: str = "") -> BitPlan:
    """The least-damage plan whose total memory fits ``budget_bytes``.

    Raises:
        ValueError: not even every block at the cheapest candidate fits (the message gives
            that minimum).
    """
    frontier = pareto_frontier(block_costs(layout, specs, damage), specs)
    return frontier_plan(layout, frontier, budget_bytes, parts, model)


def other_bytes(layout: ModelLayout, frontier: Frontier, parts: dict | None = None) -> int:
    """Bytes outside the decoder linears (embeddings, tower, norms): the same for every plan."""
    return plan_memory(layout, plan_at(layout, frontier, 0), parts).total_bytes \
        - frontier.bytes[0]


def frontier_plan(layout: ModelLayout, frontier: Frontier, budget_bytes: int,
                  parts: dict | None = None, model: str = "") -> BitPlan:
    """The frontier's best plan within ``budget_bytes`` of total memory (decoder + the rest).

    Raises:
        ValueError: the budget is below the frontier's smallest plan.
    """
    rest = other_bytes(layout, frontier, parts)
    index = frontier.best(budget_bytes - rest)
    if index is None:
        raise ValueError(f"budget {budget_bytes / 1e6:.3f} MB is below the smallest plan "
                         f"({(frontier.bytes[0] + rest) / 1e6:.3f} MB)")
    return plan_at(layout, frontier, index, parts, model)


def plan_at(layout: ModelLayout, frontier: Frontier, index: int, parts: dict | None = None,
            model: str = "") -> BitPlan:
    """The frontier's ``index``-th assignment as a priced plan."""
    chosen = frontier.choices[index]
    plan = BitPlan(tuple(LayerAssignment(b.name, frontier.specs[k])
                         for b, k in zip(layout.blocks, chosen)), order="allocate",
                   model=model)
    report = plan_memory(layout, plan, parts)
    return plan.with_summary(report.total_bytes, report.avg_bits,
                             f"allocated: summed damage {frontier.damage[index]:.4g}")

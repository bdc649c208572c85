"""Measured damage of every block at every candidate setting, and the allocator's plans.

The damage table is the sensitivity probe run once per candidate (each block alone at the
candidate, every other block at the base setting; mean KL of next-token distributions from
the full model, cached on disk like profiles), less the base plan's own KL, so a block at the
base costs 0. Probe noise can make a value slightly negative; it is clamped at 0.
:func:`allocate_selection` then asks :mod:`luq.allocate` for the least-damage plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from weakref import WeakKeyDictionary

from luq.allocate import (
    Frontier,
    block_costs,
    frontier_plan,
    other_bytes,
    pareto_frontier,
    plan_at,
)
from luq.calibration import CalibrationConfig
from luq.memory import plan_memory
from luq.pipeline import probe_damage
from luq.progress import Progress
from luq.quant.ggml_types import TYPES, stored_type
from luq.quant.spec import QuantSpec
from luq.select import Selection, mixed_plan
from luq.tower import tower_parts

LADDER = ("IQ1_M", "Q2_K", "Q3_K", "Q4_K")  # llama.cpp types between an ultra-low and Q4_K
_FRONTIERS: WeakKeyDictionary = WeakKeyDictionary()  # session -> {settings: Frontier}


def candidates(high: QuantSpec, low: QuantSpec,
               types: Sequence[QuantSpec] | None = None) -> list[QuantSpec]:
    """The settings a block may take: ``types`` when given (with ``high``, the base), else
    for two llama.cpp settings every :data:`LADDER` type between them, for a group-wise
    research ``high`` (RTN, GPTQ, AWQ) its own method at every width between, else the two."""
    if types:
        return list(dict.fromkeys([*types, high]))
    if high.method == low.method == "ggml":
        lo, hi = TYPES[low.type].bits_per_weight, TYPES[high.type].bits_per_weight
        between = [QuantSpec.ggml(t) for t in LADDER
                   if lo < TYPES[t].bits_per_weight < hi]
        return [low, *between, high]
    if high.method in ("rtn", "gptq", "awq") and high.group_size:
        between = [QuantSpec(high.method, b, high.group_size) for b in range(2, high.bits)
                   if low.bits < b]
        return [low, *between, high]
    return [low, high]


def damage_table(session, specs: Sequence[QuantSpec], base: QuantSpec,
                 progress: Progress | None = None) -> dict[str, list[float]]:
    """Per candidate label, each block's damage at it with the others at ``base`` (the probe
    alone, cached: the same measurement the sensitivity order reads)."""
    table = {}
    for spec in specs:
        if spec == base:
            table[spec.label] = [0.0] * len(session.block_names)
            continue
        sens = probe_damage(session.loaded, CalibrationConfig(), spec, base, session.store,
                            progress=progress, source=session.source)
        table[spec.label] = [max(0.0, kl - sens["base_kl"]) for kl in sens["kl"]]
    return table


def forget_frontiers(session) -> None:
    """Drops the session's memoised frontiers (its store, statistics or images changed)."""
    _FRONTIERS.pop(session, None)


def allocator_frontier(session, high: QuantSpec, low: QuantSpec,
                       types: Sequence[QuantSpec] | None = None,
                       progress: Progress | None = None) -> Frontier:
    """The exact (bytes, damage) frontier of the session's blocks over the candidates.

    Candidates that store exactly alike on this model (a type falling back to another's
    type on every row) are counted once, the one nearer the base kept. Memoised per session
    and calibration source: a slider move re-reads no probe and hashes no weights.
    """
    key = (high, low, tuple(types or ()), session.source.key, session.image_detail)
    memo = _FRONTIERS.setdefault(session, {})
    if key not in memo:
        memo[key] = _frontier(session, high, low, types, progress)
    return memo[key]


def _frontier(session, high: QuantSpec, low: QuantSpec, types: Sequence[QuantSpec] | None,
              progress: Progress | None) -> Frontier:
    widths = {i for b in session.layout.blocks for _, (_, i) in b.linears}
    specs, seen = [], set()
    for spec in reversed(candidates(high, low, types)):
        stored = tuple(stored_type(spec.type, w) if spec.method == "ggml" else spec.label
                       for w in sorted(widths))
        if stored not in seen:
            seen.add(stored)
            specs.insert(0, spec)
    session.prepare(specs, progress)
    table = damage_table(session, specs, high, progress)
    return pareto_frontier(block_costs(session.layout, specs, table), specs)


def allocate_curve(session, high: QuantSpec, low: QuantSpec,
                   types: Sequence[QuantSpec] | None = None, measure: bool = True,
                   progress: Progress | None = None) -> list[dict]:
    """The allocator's memory-accuracy curve over the two-level orders' memory range: its plan
    at the memory of every ``n`` of ``low`` blocks, measured (memoised) or, without
    ``measure``, only the points already known."""
    layout, parts = session.layout, tower_parts(session.tower)
    frontier = allocator_frontier(session, high, low, types, progress)
    points = {}
    for n in range(len(layout.blocks) + 1):
        budget = mixed_plan(layout, high, low, layout.block_names[:n], "allocate", "",
                            parts)[1].total_bytes
        plan = frontier_plan(layout, frontier, budget, parts, session.name)
        accuracy = session.accuracy(plan, background=True) if measure else \
            session.known_accuracy(plan)
        if accuracy is not None:
            points[plan.memory_bytes] = {"n_low": sum(a.spec != high for a in plan.layers),
                                         "memory_bytes": plan.memory_bytes,
                                         "decoder_bytes": plan_memory(layout, plan).decoder_bytes,
                                         "avg_bits": plan.avg_bits, "accuracy": accuracy}
    return [points[k] for k in sorted(points)]


def allocate_selection(session, high: QuantSpec, low: QuantSpec,
                       budget_bytes: int | None = None, min_accuracy: float | None = None,
                       types: Sequence[QuantSpec] | None = None, parts: dict | None = None,
                       progress: Progress | None = None) -> Selection:
    """The allocator's plan under a memory budget, an accuracy floor (the frontier walked from
    the largest plan down, stopping before accuracy falls below the floor), or both.

    Raises:
        ValueError: the budget is below the smallest plan, or no rule was given.
    """
    if budget_bytes is None and min_accuracy is None:
        raise ValueError("allocate needs a budget or an accuracy floor")
    layout, frontier = session.layout, allocator_frontier(session, high, low, types, progress)
    rest = other_bytes(layout, frontier, parts)
    start = len(frontier.bytes) - 1 if budget_bytes is None else frontier.best(budget_bytes - rest)
    if start is None:
        raise ValueError(f"budget {budget_bytes / 1e6:.3f} MB is below the smallest plan "
                         f"({(frontier.bytes[0] + rest) / 1e6:.3f} MB)")
    plan, trace = plan_at(layout, frontier, start, parts, session.name), []
    if min_accuracy is not None:  # the largest plans first, down to the floor
        chosen = None
        for i in range(start, -1, -1):
            candidate = plan_at(layout, frontier, i, parts, session.name)
            accuracy = session.accuracy(candidate)
            trace.append({"memory_bytes": candidate.memory_bytes, "accuracy": accuracy})
            if accuracy < min_accuracy:
                break
            chosen = candidate
        if chosen is None:
            raise ValueError(f"no allocated plan within the budget reaches {min_accuracy}")
        plan = chosen
    report = plan_memory(layout, plan, parts)
    n_low = sum(a.spec != high for a in plan.layers)
    return Selection(plan, report, n_low, plan.note, tuple(trace))

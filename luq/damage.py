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
from luq.plan import BitPlan
from luq.progress import Progress
from luq.quant.ggml_types import TYPES, stored_type
from luq.quant.spec import QuantSpec
from luq.select import Selection, mixed_plan
from luq.speed import block_ns, decode_ns, head_ns, load_costs, q4_k_m
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
                       progress: Progress | None = None,
                       min_speed: float | None = None) -> Frontier:
    """The exact (bytes, damage) frontier of the session's blocks over the candidates, among
    the plans whose predicted decode speed is at least ``min_speed`` x uniform Q4_K_M's.

    Candidates that store exactly alike on this model (a type falling back to another's
    type on every row) are counted once, the one nearer the base kept. Memoised per session
    and calibration source: a slider move re-reads no probe and hashes no weights.
    """
    key = (high, low, tuple(types or ()), session.source.key, session.image_detail, min_speed,
           load_costs() if min_speed is not None else None)
    memo = _FRONTIERS.setdefault(session, {})
    if key not in memo:
        memo[key] = _frontier(session, high, low, types, progress, min_speed)
    return memo[key]


def speed_limits(layout, specs: Sequence[QuantSpec], min_speed: float
                 ) -> tuple[list[list[int]], int]:
    """Each block's predicted decode time at each candidate (picoseconds per token) and the
    most the blocks may take together for ``min_speed`` x uniform Q4_K_M's speed.

    Raises:
        ValueError: ``min_speed`` is not positive, or no decode-cost table exists.
    """
    if not min_speed > 0:
        raise ValueError(f"the minimum speed must be above 0 (x Q4_K_M), got {min_speed}")
    costs = load_costs()
    if costs is None:
        raise ValueError("no decode-cost table to predict speed from: run "
                         "python -m benchmarks.decode_costs")
    per_spec = [block_ns(layout, BitPlan.uniform(layout.block_names, s), costs) for s in specs]
    times = [[round(per_spec[k][i] * 1000) for k in range(len(specs))]
             for i in range(len(layout.blocks))]
    limit = decode_ns(layout, q4_k_m(layout), costs) / min_speed - head_ns(layout, costs)
    return times, round(limit * 1000)


def _frontier(session, high: QuantSpec, low: QuantSpec, types: Sequence[QuantSpec] | None,
              progress: Progress | None, min_speed: float | None = None) -> Frontier:
    widths = {i for b in session.layout.blocks for _, (_, i) in b.linears}
    specs, seen = [], set()
    for spec in reversed(candidates(high, low, types)):
        stored = tuple(stored_type(spec.type, w) if spec.method == "ggml" else spec.label
                       for w in sorted(widths))
        if stored not in seen:
            seen.add(stored)
            specs.insert(0, spec)
    times, limit = speed_limits(session.layout, specs, min_speed) if min_speed is not None \
        else (None, None)  # before any probing: a missing table fails at once
    session.prepare(specs, progress)
    table = damage_table(session, specs, high, progress)
    frontier = pareto_frontier(block_costs(session.layout, specs, table), specs, times, limit)
    if not frontier.bytes:
        raise ValueError(f"no plan of {', '.join(s.label for s in specs)} is predicted to "
                         f"decode at {min_speed:g}x uniform Q4_K_M's speed or faster")
    return frontier


def allocate_curve(session, high: QuantSpec, low: QuantSpec,
                   types: Sequence[QuantSpec] | None = None, measure: bool = True,
                   progress: Progress | None = None, min_speed: float | None = None
                   ) -> list[dict]:
    """The allocator's memory-accuracy curve over the two-level orders' memory range: its plan
    at the memory of every ``n`` of ``low`` blocks (those ``min_speed`` allows), measured
    (memoised) or, without ``measure``, only the points already known."""
    layout, parts = session.layout, tower_parts(session.tower)
    frontier = allocator_frontier(session, high, low, types, progress, min_speed)
    points = {}
    for n in range(len(layout.blocks) + 1):
        budget = mixed_plan(layout, high, low, layout.block_names[:n], "allocate", "",
                            parts)[1].total_bytes
        if frontier.best(budget - other_bytes(layout, frontier, parts)) is None:
            continue  # below the smallest plan fast enough
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
                       progress: Progress | None = None,
                       min_speed: float | None = None) -> Selection:
    """The allocator's plan under a memory budget, an accuracy floor (the frontier walked from
    the largest plan down, stopping before accuracy falls below the floor), or both.

    Raises:
        ValueError: the budget is below the smallest plan, or no rule was given.
    """
    if budget_bytes is None and min_accuracy is None:
        raise ValueError("allocate needs a budget or an accuracy floor")
    layout = session.layout
    frontier = allocator_frontier(session, high, low, types, progress, min_speed)
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

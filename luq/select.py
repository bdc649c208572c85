"""Greedy LUQ selection: move decoder blocks to the ultra-low setting in a chosen order.

Orders (names of blocks, first = first to go ultra-low):

* ``entropy``: ascending entropy, the paper's LUQ order;
* ``entropy-desc``: highest entropy first (the paper's ablation);
* ``random``: a seeded shuffle;
* ``depth``: first block first;
* ``sensitivity``: least damaging first, from a measured per-layer probe.

Stopping rules: a memory budget (stop as soon as the plan fits) and/or a performance
threshold (stop before an evaluation callback says accuracy falls below it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from luq.memory import MemoryReport, ModelLayout, plan_memory
from luq.plan import BitPlan
from luq.quant.spec import QuantSpec

ORDERS = ("entropy", "entropy-desc", "random", "depth", "sensitivity")
ORDER_LABELS = {  # one name per order for every front end
    "entropy": "LUQ: lowest entropy first",
    "entropy-desc": "highest entropy first",
    "random": "random (mean of seeds)",
    "depth": "by depth",
    "sensitivity": "measured sensitivity (least damage first)",
    "allocate": "allocate: a type per block, least measured damage (exact)",
    "allocate-fast": "allocate, predicted at least as fast as Q4_K_M in llama.cpp",
}
PLAN_ORDERS = (*ORDERS, "allocate")  # what a plan can be made by (luq.damage allocates)
RANDOM_SEEDS = 5  # a random order's curve is the mean over this many seeds, everywhere


def layer_order(names: Sequence[str], order: str, scores: Sequence[float] | None = None,
                seed: int = 0) -> list[str]:
    """Block names in the order they go ultra-low.

    Args:
        names: blocks in depth order.
        order: one of :data:`ORDERS`.
        scores: per-block entropy (``entropy*``) or damage (``sensitivity``), depth order.
        seed: for ``random``.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {', '.join(ORDERS)}")
    idx = list(range(len(names)))
    if order == "depth":
        return list(names)
    if order == "random":
        random.Random(seed).shuffle(idx)
        return [names[i] for i in idx]
    if scores is None or len(scores) != len(names):
        source = "an entropy profile" if order.startswith("entropy") else "a sensitivity probe"
        raise ValueError(f"order {order!r} needs one score per layer ({source})")
    reverse = order == "entropy-desc"
    idx.sort(key=lambda i: (scores[i], i), reverse=reverse)
    return [names[i] for i in idx]


@dataclass(frozen=True)
class Selection:
    """The result of a greedy selection."""

    plan: BitPlan
    memory: MemoryReport
    n_low: int
    note: str = ""
    trace: tuple[dict, ...] = field(default_factory=tuple)  # one row per step


def mixed_plan(layout: ModelLayout, high: QuantSpec, low: QuantSpec, low_names: Sequence[str],
               order: str, model: str = "", parts: dict | None = None
               ) -> tuple[BitPlan, MemoryReport]:
    """The plan with ``low_names`` ultra-low and the rest high, priced."""
    plan = BitPlan.mixed(layout.block_names, high, low, low_names, order=order, model=model)
    report = plan_memory(layout, plan, parts)
    return plan.with_summary(report.total_bytes, report.avg_bits), report


def budget_range(layout: ModelLayout, high: QuantSpec, low: QuantSpec,
                 parts: dict | None = None) -> tuple[int, int]:
    """(all blocks ultra-low, all blocks high) total bytes."""
    lo = plan_memory(layout, BitPlan.uniform(layout.block_names, low), parts).total_bytes
    hi = plan_memory(layout, BitPlan.uniform(layout.block_names, high), parts).total_bytes
    return lo, hi


def greedy_select(
    layout: ModelLayout,
    ordered: Sequence[str],
    high: QuantSpec,
    low: QuantSpec,
    budget_bytes: int | None = None,
    evaluate: Callable[[BitPlan], float] | None = None,
    min_accuracy: float | None = None,
    order_name: str = "custom",
    model: str = "",
    parts: dict | None = None,
) -> Selection:
    """Moves blocks from ``high`` to ``low`` in ``ordered`` order until a threshold is met.

    Args:
        layout: the model's layout (for memory).
        ordered: block names, first to go ultra-low first (:func:`layer_order`).
        high: the setting of the other blocks (e.g. 4-bit).
        low: the ultra-low setting.
        budget_bytes: stop as soon as total memory is within this (memory threshold).
        evaluate: ``evaluate(plan) -> accuracy``; with ``min_accuracy``, the selection stops
            before a step whose accuracy would fall below it (performance threshold).
        min_accuracy: the performance threshold.
        order_name: recorded in the plan.
        model: recorded in the plan.
        parts: settings of embeddings / lm_head for the memory count (fp16 otherwise).

    Raises:
        ValueError: the budget is below what the all-ultra-low plan needs (the message gives
            that minimum), or no threshold is given.
    """
    if budget_bytes is None and (evaluate is None or min_accuracy is None):
        raise ValueError("give a memory budget, or an evaluate callback with min_accuracy")
    if sorted(ordered) != sorted(layout.block_names):
        raise ValueError("the order must name every decoder block exactly once")
    minimum, maximum = budget_range(layout, high, low, parts)
    if budget_bytes is not None and budget_bytes < minimum:
        raise ValueError(f"a budget of {budget_bytes / 1e6:.3f} MB is below the "
                         f"{minimum / 1e6:.3f} MB that every block at {low.label} needs; "
                         f"the smallest possible plan is {minimum / 1e6:.3f} MB")
    check = evaluate is not None and min_accuracy is not None
    low_names: list[str] = []
    note = ""
    plan, report = mixed_plan(layout, high, low, low_names, order_name, model, parts)
    accuracy = evaluate(plan) if check else None
    trace = [{"n_low": 0, "memory_bytes": report.total_bytes, "accuracy": accuracy}]
    if budget_bytes is not None and budget_bytes >= maximum:
        note = (f"the budget ({budget_bytes / 1e6:.3f} MB) holds every block at {high.label} "
                f"({maximum / 1e6:.3f} MB): no block needs to go ultra-low")
    for name in ordered:
        if budget_bytes is not None and report.total_bytes <= budget_bytes:
            break  # memory threshold met
        cand_plan, cand_report = mixed_plan(layout, high, low, [*low_names, name], order_name,
                                            model, parts)
        if check:
            acc = evaluate(cand_plan)
            if acc < min_accuracy:
                note = (f"stopped before {name}: accuracy would fall to {acc:.4f}, below "
                        f"{min_accuracy:.4f}")
                break
            accuracy = acc
        low_names.append(name)
        plan, report = cand_plan, cand_report
        trace.append({"n_low": len(low_names), "memory_bytes": report.total_bytes,
                      "accuracy": accuracy})
    return Selection(plan.with_summary(report.total_bytes, report.avg_bits, note), report,
                     len(low_names), note, tuple(trace))

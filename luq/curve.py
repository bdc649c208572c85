"""The memory-vs-accuracy curve of a layer order, and the figures read off it.

A curve has one point per number of ultra-low blocks (0 .. L), each the plan that sends the
first ``n`` blocks of the order ultra-low. A random order's point is the mean over
``RANDOM_SEEDS`` seeds (:data:`luq.select.RANDOM_SEEDS`), the one seed policy of the app, the
CLI and the benchmarks.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from luq.memory import ModelLayout
from luq.plan import BitPlan
from luq.quant.spec import QuantSpec
from luq.select import RANDOM_SEEDS, layer_order, mixed_plan

MAX_RELATIVE_LOSS = 0.10  # the paper's "under 10 % loss" operating point


def seeds_of(order: str) -> range:
    """The seeds an order's curve averages over (one for deterministic orders)."""
    return range(RANDOM_SEEDS) if order == "random" else range(1)


def order_curve(layout: ModelLayout, order: str, high: QuantSpec, low: QuantSpec,
                scores: Sequence[float] | None,
                accuracy: Callable[[BitPlan], float | None]) -> list[dict]:
    """Points ``n_low``, ``memory_bytes``, ``decoder_bytes``, ``avg_bits``, ``accuracy``.

    Args:
        layout: the model's layout.
        order: a name of :data:`luq.select.ORDERS`.
        high, low: the two settings.
        scores: per-block entropy or damage, for the orders that need them.
        accuracy: ``accuracy(plan)``; None means "not measured", and a point with any seed
            unmeasured is left out (so a slider can draw only what is known).
    """
    names = layout.block_names
    orders = [layer_order(names, order, scores, seed) for seed in seeds_of(order)]
    points = []
    for n in range(len(names) + 1):
        accs, report = [], None
        for ordered in orders:
            plan, report = mixed_plan(layout, high, low, ordered[:n], order)
            accs.append(accuracy(plan))
        if any(a is None for a in accs):
            continue
        points.append({"n_low": n, "memory_bytes": report.total_bytes,
                       "decoder_bytes": report.decoder_bytes,
                       "avg_bits": round(report.avg_bits, 4),
                       "accuracy": statistics.fmean(accs)})
    return points


def area(curve: list[dict]) -> float:
    """Mean accuracy over the memory range the curve spans (trapezoids, memory normalised)."""
    pairs = sorted((p["memory_bytes"], p["accuracy"]) for p in curve)
    lo, hi = pairs[0][0], pairs[-1][0]
    total = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pairs, pairs[1:]))
    return total / (hi - lo) if hi > lo else pairs[0][1]


def savings(curve: list[dict], reference: dict, full_accuracy: float,
            max_loss: float = MAX_RELATIVE_LOSS) -> dict:
    """The smallest point within ``max_loss`` relative accuracy loss of full precision, and
    the memory it saves against ``reference`` (a point with ``memory_bytes`` and
    ``decoder_bytes``, e.g. uniform 4-bit)."""
    floor = (1 - max_loss) * full_accuracy
    ok = [p for p in curve if p["accuracy"] >= floor]
    if not ok:
        return {"floor": round(floor, 4), "n_low": None, "saved_total": 0.0,
                "saved_decoder": 0.0}
    best = min(ok, key=lambda p: p["memory_bytes"])
    return {"floor": round(floor, 4), "n_low": best["n_low"],
            "accuracy": round(best["accuracy"], 4), "memory_bytes": best["memory_bytes"],
            "saved_total": round(1 - best["memory_bytes"] / reference["memory_bytes"], 4),
            "saved_decoder": round(1 - best["decoder_bytes"] / reference["decoder_bytes"], 4)}

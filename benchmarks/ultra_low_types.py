"""Which llama.cpp ultra-low type makes the best default pair with Q4_K on the embedded model.

    python -m benchmarks.ultra_low_types [--n 200] [--orders entropy sensitivity]

For every ultra-low ggml type offered (``luq.quant.ggml_types.ULTRA_LOW``) low and Q4_K high,
both ``ggml`` settings (the bytes a GGUF holds): the memory-accuracy curve of each order at
``--n`` test questions per point. A pair's score is its mean accuracy over one memory range
for all pairs, from the smallest plan any type makes to uniform Q4_K, a curve counting 0 below
its own smallest plan (it cannot fit there): reaching small memory counts as much as keeping
accuracy. Also each curve's own area (``luq.curve.area``) and its smallest plan within 10 %
relative loss of full precision.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import print_table, write_result
from luq.curve import area, savings
from luq.models.loading import load_model
from luq.quant.ggml_types import ULTRA_LOW
from luq.quant.spec import QuantSpec
from luq.session import Session, shapes_evaluation


def common_area(curve: list[dict], lo: float, hi: float, points: int = 2001) -> float:
    """Mean accuracy over ``[lo, hi]`` bytes, linear between points, 0 below the curve."""
    pairs = sorted((p["memory_bytes"], p["accuracy"]) for p in curve)
    grid = np.linspace(lo, hi, points)
    values = np.interp(grid, [x for x, _ in pairs], [y for _, y in pairs], left=0.0)
    return float(np.trapezoid(values, grid) / (hi - lo))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="test questions per point")
    ap.add_argument("--orders", nargs="+", default=["entropy", "sensitivity"])
    ap.add_argument("--types", nargs="+", default=list(ULTRA_LOW))
    args = ap.parse_args()

    start = time.perf_counter()
    session = Session(load_model("embedded"), evaluation=shapes_evaluation(args.n))
    high = QuantSpec.ggml("Q4_K")
    curves, uniform, timing = {}, {}, {}
    for qtype in args.types:
        began = time.perf_counter()
        result = session.sweep(high, QuantSpec.ggml(qtype), args.orders, [])
        curves[qtype] = result["curves"]
        full = result["full"]
        timing[qtype] = round(time.perf_counter() - began, 1)
        print(f"{qtype}: {timing[qtype]} s", flush=True)
    reference = session.point(session.uniform(high), high.label)
    lo = min(p["memory_bytes"] for c in curves.values() for pts in c.values() for p in pts)
    hi = reference["memory_bytes"]
    rows = []
    for qtype, by_order in curves.items():
        for order, curve in by_order.items():
            uniform[qtype] = min(curve, key=lambda p: p["memory_bytes"])
            s = savings(curve, reference, full["accuracy"])
            rows.append({"low": qtype, "order": order,
                         "score": round(common_area(curve, lo, hi), 4),
                         "own auc": round(area(curve), 4),
                         "smallest MB": round(uniform[qtype]["memory_bytes"] / 1e6, 3),
                         "all low acc": round(uniform[qtype]["accuracy"], 4),
                         "10% loss MB": round(s["memory_bytes"] / 1e6, 3)
                         if s["n_low"] is not None else None})
    best = {order: max((r for r in rows if r["order"] == order), key=lambda r: r["score"])["low"]
            for order in args.orders}
    print(f"common range {lo / 1e6:.3f}-{hi / 1e6:.3f} MB; full precision "
          f"{full['accuracy']:.3f}; uniform Q4_K {reference['accuracy']:.3f}; best: {best}")
    print_table(rows)
    path = write_result("ultra_low_types", {
        "n": args.n, "high": high.label, "orders": args.orders, "range_bytes": [lo, hi],
        "full": full, "uniform_high": reference, "curves": curves, "rows": rows, "best": best,
        "seconds_per_type": timing, "seconds": round(time.perf_counter() - start, 1)})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

"""The paper's Figure 1 on the embedded model: weight memory vs held-out accuracy.

    python -m benchmarks.tradeoff [--n 200] [--random-seeds 5]

LUQ (entropy-ascending) against the other layer orders (highest-entropy-first, random as
the mean of several seeds, by depth, measured sensitivity), uniform 4-, 3- and 2-bit RTN and
GPTQ, and the ultra-low setting everywhere. Reports the memory LUQ saves against uniform
4-bit at <= 10 % relative accuracy loss (relative to full precision; the paper: 40 % on
LLaVA-1.5, 31 % on Qwen2.5-VL) and the area under each order's curve.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.common import print_table, write_result
from luq.calibration import CalibrationConfig
from luq.defaults import HIGH, LOW
from luq.embedded import load_split
from luq.models.loading import load_model
from luq.pipeline import add_sensitivity, run_profile, sweep
from luq.profile import EntropyConfig

ORDERS = ("entropy", "entropy-desc", "random", "depth", "sensitivity")
MAX_RELATIVE_LOSS = 0.10


def curves(points: list[dict]) -> dict[str, list[dict]]:
    """One curve per order (random: the mean over seeds), points by ``n_low``."""
    grouped: dict[str, dict[int, list[dict]]] = {}
    for p in points:
        grouped.setdefault(p["order"], {}).setdefault(p["n_low"], []).append(p)
    out = {}
    for order, by_n in grouped.items():
        out[order] = [{"n_low": n, "memory_bytes": ps[0]["memory_bytes"],
                       "decoder_bytes": ps[0]["decoder_bytes"], "avg_bits": ps[0]["avg_bits"],
                       "accuracy": statistics.fmean(p["accuracy"] for p in ps)}
                      for n, ps in sorted(by_n.items())]
    return out


def area(curve: list[dict]) -> float:
    """Mean accuracy over the memory range the curve spans (trapezoids, memory normalised)."""
    xs = [p["memory_bytes"] for p in curve]
    ys = [p["accuracy"] for p in curve]
    lo, hi = min(xs), max(xs)
    pairs = sorted(zip(xs, ys))
    total = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pairs, pairs[1:]))
    return total / (hi - lo) if hi > lo else ys[0]


def savings(curve: list[dict], reference: dict, full_accuracy: float,
            max_loss: float = MAX_RELATIVE_LOSS) -> dict:
    """The smallest point within ``max_loss`` relative accuracy loss of full precision,
    and the memory it saves against ``reference`` (uniform 4-bit)."""
    floor = (1 - max_loss) * full_accuracy
    ok = [p for p in curve if p["accuracy"] >= floor]
    if not ok:
        return {"floor": floor, "n_low": None, "saved_total": 0.0, "saved_decoder": 0.0}
    best = min(ok, key=lambda p: p["memory_bytes"])
    return {"floor": round(floor, 4), "n_low": best["n_low"],
            "accuracy": round(best["accuracy"], 4), "memory_bytes": best["memory_bytes"],
            "saved_total": round(1 - best["memory_bytes"] / reference["memory_bytes"], 4),
            "saved_decoder": round(1 - best["decoder_bytes"] / reference["decoder_bytes"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--n", type=int, default=200, help="test questions per point")
    ap.add_argument("--random-seeds", type=int, default=5)
    args = ap.parse_args()

    start = time.perf_counter()
    loaded = load_model(args.model)
    calib = CalibrationConfig(64, 0.5)
    profile = run_profile(loaded, calib, EntropyConfig("kmeans"))
    sens = add_sensitivity(loaded, profile.to_dict(), calib, LOW, HIGH)
    sensitivity = [layer["sensitivity_kl"] for layer in sens["layers"]]
    rows = load_split("test", args.n)
    result = sweep(loaded, profile, HIGH, LOW, rows, ORDERS, args.random_seeds, sensitivity,
                   uniform_bits=(4, 3, 2), calibration=calib, uniform_methods=("rtn", "gptq"))
    by_order = curves(result["points"])
    reference = next(u for u in result["uniform"] if u["spec"] == HIGH.label)
    full = result["full"]["accuracy"]
    summary = []
    for order, curve in by_order.items():
        s = savings(curve, reference, full)
        summary.append({"order": order, "auc": round(area(curve), 4),
                        "n_low_at_10pct": s["n_low"], "saved_vs_4bit": s["saved_total"],
                        "saved_decoder_vs_4bit": s["saved_decoder"]})
    table = [{"setting": u["spec"], "MB": round(u["memory_bytes"] / 1e6, 3),
              "avg_bits": u["avg_bits"], "accuracy": round(u["accuracy"], 4)}
             for u in result["uniform"]]
    table.append({"setting": "full (fp16)", "MB": round(result["full"]["memory_bytes"] / 1e6, 3),
                  "avg_bits": 16, "accuracy": round(full, 4)})
    print_table(table)
    print()
    print_table(summary)
    path = write_result("tradeoff", {
        "model": args.model, "high": HIGH.label, "low": LOW.label, "n": args.n,
        "random_seeds": args.random_seeds, "max_relative_loss": MAX_RELATIVE_LOSS,
        "full": result["full"], "uniform": result["uniform"], "curves": by_order,
        "summary": summary, "seconds": round(time.perf_counter() - start, 1)})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

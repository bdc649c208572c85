"""The paper's Figure 1 on the embedded model: weight memory vs held-out accuracy.

    python -m benchmarks.tradeoff [--n 200]

LUQ (entropy-ascending) against the other layer orders (highest-entropy-first, random as
the mean of several seeds, by depth, measured sensitivity) and the allocator, at the default
settings (``luq.defaults``), beside uniform Q4_K / Q3_K / Q2_K (llama.cpp types), 4-, 3- and
2-bit RTN and GPTQ, and the ultra-low setting everywhere. Reports the memory LUQ saves
against the uniform high setting at <= 10 % relative accuracy loss (relative to full
precision; the paper: 40 % on LLaVA-1.5, 31 % on Qwen2.5-VL) and the area under each order's
curve.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import print_table, write_result
from luq.curve import MAX_RELATIVE_LOSS, area, savings
from luq.damage import allocate_curve, candidates
from luq.defaults import HIGH, LOW, uniform_baselines
from luq.models.loading import load_model
from luq.quant.spec import QuantSpec
from luq.select import ORDERS, RANDOM_SEEDS
from luq.session import Session, shapes_evaluation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--n", type=int, default=200, help="test questions per point")
    args = ap.parse_args()

    start = time.perf_counter()
    session = Session(load_model(args.model), evaluation=shapes_evaluation(args.n))
    uniform = list(dict.fromkeys([*uniform_baselines(HIGH), *(
        QuantSpec(m, b, 64) for m in ("rtn", "gptq") for b in (4, 3, 2))]))
    result = session.sweep(HIGH, LOW, ORDERS, uniform)
    by_order = result["curves"]
    by_order["allocate"] = allocate_curve(session, HIGH, LOW)  # 1-4 bits per block
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
        "allocate_candidates": [s.label for s in candidates(HIGH, LOW)],
        "random_seeds": RANDOM_SEEDS, "max_relative_loss": MAX_RELATIVE_LOSS,
        "full": result["full"], "uniform": result["uniform"], "curves": by_order,
        "summary": summary, "seconds": round(time.perf_counter() - start, 1)})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

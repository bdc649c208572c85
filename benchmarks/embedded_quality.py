"""Accuracy of the embedded model: full precision, uniform settings, one layer ultra-low.

    python -m benchmarks.embedded_quality [--n 1000] [--layer-n 200]

Shows whether layer choice matters on the shipped model: uniform 4-bit should cost little,
every layer at an ultra-low setting should cost a lot, and single layers should differ.
"""

from __future__ import annotations

import argparse

from benchmarks.common import print_table, write_result
from luq.embedded import load_split
from luq.evaluation import evaluate
from luq.models.loading import load_model
from luq.plan import BitPlan
from luq.quant.spec import QuantSpec
from luq.session import Session

UNIFORM = [QuantSpec("rtn", 8, 64), QuantSpec("rtn", 4, 32), QuantSpec("rtn", 4, 64),
           QuantSpec("rtn", 3, 64), QuantSpec("rtn", 2, 64), QuantSpec("rtn", 2, 32),
           QuantSpec("gptq", 2, 64), QuantSpec("rtn", 1, 0),
           QuantSpec("billm", 1, 0, split=False), QuantSpec("billm", 1, 0)]
LOWS = [QuantSpec("billm", 1, 0, split=False), QuantSpec("rtn", 2, 64)]
BASE = QuantSpec("rtn", 4, 64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="test questions for uniform settings")
    ap.add_argument("--layer-n", type=int, default=200, help="test questions per layer probe")
    args = ap.parse_args()
    session = Session(load_model("embedded", device="cpu"))
    names = session.block_names
    rows, layer_rows = [], []
    test, small = load_split("test", args.n), load_split("test", args.layer_n)

    def evaluate_on(rows_, plan):
        return session.run(plan, lambda m: evaluate(m.model, m.processor, rows_))

    full = evaluate_on(test, None)
    rows.append({"setting": "fp16 (full)", "avg bits": 16.0,
                 "MB": round(session.memory(None).total_bytes / 1e6, 3),
                 "accuracy": round(full.accuracy, 4),
                 **{t: round(v, 3) for t, v in full.per_type.items()}})
    for spec in UNIFORM:
        plan = BitPlan.uniform(names, spec)
        r = evaluate_on(test, plan)
        report = session.memory(plan)
        rows.append({"setting": spec.label,
                     "avg bits": round(report.avg_bits, 3),
                     "MB": round(report.total_bytes / 1e6, 3), "accuracy": round(r.accuracy, 4),
                     **{t: round(v, 3) for t, v in r.per_type.items()}})
    base = evaluate_on(small, BitPlan.uniform(names, BASE)).accuracy
    for low in LOWS:
        for i, name in enumerate(names):
            r = evaluate_on(small, BitPlan.mixed(names, BASE, low, [name]))
            layer_rows.append({"low": low.label, "layer": i, "accuracy": round(r.accuracy, 4),
                               "drop vs all-4bit": round(base - r.accuracy, 4)})
    print(f"embedded model, {args.n} test questions")
    print_table(rows)
    print(f"\none layer ultra-low, the rest {BASE.label} ({args.layer_n} questions; "
          f"all-{BASE.label}: {base:.4f})")
    print_table(layer_rows)
    path = write_result("embedded_quality", {"uniform": rows, "single_layer": layer_rows,
                                             "base": BASE.label, "base_accuracy": base})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

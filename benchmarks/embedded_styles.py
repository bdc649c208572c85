"""The embedded model on pictures drawn in held-out styles, at full precision, 4-bit and LUQ.

    python -m benchmarks.embedded_styles [--n 150]

The pictures come from the style test's own renderer (``tests/embedded/held_out.py``: dark
and mid-grey backgrounds, outlined shapes, 0.7-1.3x sizes, +-4 px jitter, 256 px canvases;
seeds never used in training), so this table and the test score the same pictures. Also the
project's own test split (the training style mix, its own seed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.common import print_table, write_result
from luq.defaults import HIGH, LOW
from luq.embedded import load_split
from luq.evaluation import evaluate
from luq.models.loading import load_model
from luq.session import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "embedded"))
from held_out import STYLES, style_split  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=150, help="questions per style")
    args = ap.parse_args()
    session = Session(load_model("embedded", device="cpu"))
    _, default, _ = session.budget_range(HIGH, LOW)
    luq = session.plan_for_budget(default, HIGH, LOW).plan
    plans = {"full": None, HIGH.label: session.uniform(HIGH),
             f"LUQ ({luq.count(LOW)} blocks {LOW.label})": luq}
    splits = {"test split (training style mix)": load_split("test"),
              **{s: style_split(s, args.n) for s in STYLES}}
    rows = []
    for style, data in splits.items():
        row = {"style": style, "n": len(data)}
        for name, plan in plans.items():
            result = session.run(plan, lambda m, d=data: evaluate(m.model, m.processor, d))
            row[name] = round(result.accuracy, 4)
            if plan is None:
                row["full_per_type"] = result.per_type
        rows.append(row)
    held = [r for r in rows[1:]]
    overall = {name: round(sum(r[name] * r["n"] for r in held) / sum(r["n"] for r in held), 4)
               for name in plans}
    print_table([{k: v for k, v in r.items() if k != "full_per_type"} for r in rows])
    print("held-out overall", overall)
    write_result("embedded_styles", {"n_per_style": args.n, "plans": list(plans),
                                     "rows": rows, "held_out_overall": overall})


if __name__ == "__main__":
    main()

"""Server time of the app's handlers on the embedded model: a slider move, a three-way answer.

    python -m benchmarks.app_latency [--repeats 15]

Calls the same handler functions the Gradio events call (no browser, no network), after
one warm-up each, so the figures are the server-side cost of an interaction.
"""

from __future__ import annotations

import argparse
import random

from benchmarks.common import median_seconds, print_table, write_result
from components.arena_panel import EXAMPLES, answer_three
from components.budget_panel import make_plan, parse_spec
from components.workbench import MODELS
from luq.select import budget_range

LOW, HIGH, ORDER = "billm", "rtn4", "entropy"


def _no_progress(*_a, **_k) -> None:
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    session = MODELS.get("embedded")
    lo, hi = budget_range(session.layout, parse_spec(HIGH), parse_spec(LOW))
    # measure every plan of the curve once, as a user's first full-curve request does
    list(make_plan("embedded", hi / 1e6, LOW, HIGH, ORDER, True, progress=_no_progress))
    rng = random.Random(0)

    def slider_move() -> None:
        list(make_plan("embedded", rng.uniform(lo, hi) / 1e6, LOW, HIGH, ORDER, False,
                       progress=_no_progress))  # every reply (one once the plan is measured)

    def three_way() -> None:
        answer_three("embedded", str(EXAMPLES[0]), "how many objects are there ?",
                     (lo + hi) / 2e6, LOW, HIGH, ORDER)

    move_s = median_seconds(slider_move, args.repeats)
    answer_s = median_seconds(three_way, args.repeats)
    rows = [{"interaction": "budget slider move (plan, swap, figures)",
             "median ms": round(move_s * 1e3, 1), "goal ms": 50},
            {"interaction": "VQA arena: three answers", "median ms": round(answer_s * 1e3, 1),
             "goal ms": 1000}]
    print_table(rows)
    path = write_result("app_latency", {"rows": rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

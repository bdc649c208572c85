"""Budget -> plan -> applied model: a cached swap vs re-quantizing the plan from scratch.

    python -m benchmarks.plan_switch [--model embedded] [--repeats 15]

Also times profiling (64 calibration samples, k-means K=100 vs histogram), uncached.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from benchmarks.common import median_seconds, print_table, write_result
from luq.apply import LayerVariantCache
from luq.calibration import CalibrationConfig
from luq.defaults import HIGH, LOW
from luq.entropy import ESTIMATORS
from luq.models.loading import load_model
from luq.pipeline import run_profile
from luq.profile import EntropyConfig
from luq.select import budget_range, greedy_select, layer_order
from luq.session import Session
from luq.statistics import collect_statistics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()

    loaded = load_model(args.model, device="cpu")
    session = Session(loaded)  # its calibration, the one every front end uses
    layout = session.layout
    stats = collect_statistics(loaded.model, loaded.adapter, session.calibration_inputs(),
                               [HIGH, LOW])
    lo, hi = budget_range(layout, HIGH, LOW)
    ordered = layer_order(layout.block_names, "random", seed=0)
    rng = random.Random(0)
    budgets = [rng.randint(lo, hi) for _ in range(args.repeats)]

    cache = LayerVariantCache(loaded.model, loaded.adapter, stats)
    cache.prepare([HIGH, LOW])
    it = iter(budgets * 4)

    def switch() -> None:
        cache.apply(greedy_select(layout, ordered, HIGH, LOW, next(it)).plan)

    def requantize() -> None:
        fresh = LayerVariantCache(loaded.model, loaded.adapter, stats)
        fresh.apply(greedy_select(layout, ordered, HIGH, LOW, next(it)).plan)
        fresh.restore()

    switch_s = median_seconds(switch, args.repeats)
    cache.restore()
    requant_s = median_seconds(requantize, max(3, args.repeats // 3))
    rows = [{"what": "budget -> plan -> swap (cached)", "median ms": round(switch_s * 1e3, 2)},
            {"what": "budget -> plan -> re-quantize", "median ms": round(requant_s * 1e3, 1)},
            {"what": "ratio", "median ms": f"{requant_s / switch_s:.0f}x"}]

    profile_rows = []
    for estimator in ESTIMATORS[:2]:
        start = time.perf_counter()
        run_profile(loaded, CalibrationConfig(samples=64), EntropyConfig(estimator),
                    use_cache=False)
        profile_rows.append({"profile (64 samples)": estimator,
                             "seconds": round(time.perf_counter() - start, 2)})
    print(f"{args.model}: {len(layout.blocks)} decoder blocks, high {HIGH.label}, "
          f"low {LOW.label}, {torch.get_num_threads()} threads")
    print_table(rows)
    print()
    print_table(profile_rows)
    path = write_result("plan_switch", {"model": args.model, "switch_ms": switch_s * 1e3,
                                        "requantize_ms": requant_s * 1e3,
                                        "ratio": requant_s / switch_s,
                                        "profile": profile_rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

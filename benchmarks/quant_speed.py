"""RTN throughput beside a plain tensor copy and (if installed) hqq, in one run.

    python -m benchmarks.quant_speed [--rows 4096 --cols 4096 --bits 4 --group-size 64]

luq and hqq are timed in alternation (round after round), so that a busy machine slows both
alike; ``speed_vs_hqq`` is hqq's median time over luq's (above 1: luq is faster), for the
codes alone and with bit packing. Also times GPTQ and BiLLM-style binarization on a smaller
layer (they are per-column and per-block algorithms, so their cost is reported per layer,
not as a bandwidth).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from benchmarks.common import median_seconds, print_table, write_result
from luq.quant import InputStats, QuantSpec, quantize_weight
from luq.quant.rtn import rtn_quantize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    torch.manual_seed(0)
    w = torch.randn(args.rows, args.cols)
    n, nbytes = w.numel(), w.numel() * w.element_size()
    spec = QuantSpec("rtn", args.bits, args.group_size)
    fns = {
        "tensor copy (clone)": lambda: w.clone(),
        "luq rtn (codes+scales)": lambda: rtn_quantize(w, args.bits, args.group_size),
        "luq rtn + pack": lambda: quantize_weight(w, spec),
    }
    try:
        from hqq.core.quantize import Quantizer

        def hqq(bitpack: bool, optimize: bool = False):
            return lambda: Quantizer.quantize(w, nbits=args.bits, group_size=args.group_size,
                                              optimize=optimize, axis=1,
                                              compute_dtype=torch.float32, device="cpu",
                                              bitpack=bitpack)

        fns["hqq (optimize=False)"] = hqq(False)
        fns["hqq + pack (optimize=False)"] = hqq(True)
        slow = {"hqq (optimize=True)": hqq(False, True)}
    except ImportError:
        slow = {}
    timings = _alternating(fns, args.repeats)
    timings.update({k: median_seconds(f, max(1, args.repeats // 2)) for k, f in slow.items()})
    ratios = {}
    if "hqq (optimize=False)" in timings:
        ratios = {
            "codes": timings["hqq (optimize=False)"] / timings["luq rtn (codes+scales)"],
            "packed": timings["hqq + pack (optimize=False)"] / timings["luq rtn + pack"],
        }
    copy_s = timings["tensor copy (clone)"]
    rows = [{"what": k, "ms": round(s * 1e3, 1), "Mweights/s": round(n / s / 1e6, 1),
             "GB/s (fp32 in)": round(nbytes / s / 1e9, 2), "x copy time": round(s / copy_s, 1)}
            for k, s in timings.items()]

    small = torch.randn(1024, 1024)
    stats = InputStats(1024)
    stats.add_batch(torch.randn(2048, 1024))
    per_layer = {
        "rtn 4b g64": QuantSpec("rtn", 4, 64),
        "gptq 4b g64": QuantSpec("gptq", 4, 64),
        "awq 4b g64": QuantSpec("awq", 4, 64),
        "billm g64 (Hessian)": QuantSpec("billm", 1, 64),
        "billm per-channel (default low)": QuantSpec("billm", 1, 0, split=False),
    }
    layer_rows = [{"method (1024x1024)": k,
                   "ms/layer": round(median_seconds(lambda s=s: quantize_weight(small, s, stats),
                                                    3) * 1e3, 1)}
                  for k, s in per_layer.items()]
    print(f"RTN throughput on a {args.rows}x{args.cols} fp32 weight, {args.bits} bits, "
          f"group {args.group_size}, {torch.get_num_threads()} threads")
    print_table(rows)
    print()
    print_table(layer_rows)
    for what, ratio in ratios.items():
        print(f"luq rtn speed vs hqq ({what}): {ratio:.2f}x")
    path = write_result("quant_speed", {"args": vars(args), "load_average": os.getloadavg(),
                                        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                                        "throughput": rows,
                                        "speed_vs_hqq": {k: round(v, 3) for k, v in ratios.items()},
                                        "per_layer": layer_rows})
    print(f"\nwrote {path}")


def _alternating(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed round by round in turn (after one warm-up)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


if __name__ == "__main__":
    main()

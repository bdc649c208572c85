"""RTN throughput beside a plain tensor copy and (if installed) hqq, in one run.

    python -m benchmarks.quant_speed [--rows 4096 --cols 4096 --bits 4 --group-size 64]

Also times GPTQ and BiLLM-style binarization on a smaller layer (they are per-column and
per-block algorithms, so their cost is reported per layer, not as a bandwidth).
"""

from __future__ import annotations

import argparse

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
    timings = {
        "tensor copy (clone)": median_seconds(lambda: w.clone(), args.repeats),
        "luq rtn (codes+scales)": median_seconds(
            lambda: rtn_quantize(w, args.bits, args.group_size), args.repeats),
        "luq rtn + pack": median_seconds(lambda: quantize_weight(w, spec), args.repeats),
    }
    try:
        from hqq.core.quantize import Quantizer

        timings["hqq (optimize=False)"] = median_seconds(
            lambda: Quantizer.quantize(w, nbits=args.bits, group_size=args.group_size,
                                       optimize=False, axis=1, compute_dtype=torch.float32,
                                       device="cpu", bitpack=False), args.repeats)
        timings["hqq (optimize=True)"] = median_seconds(
            lambda: Quantizer.quantize(w, nbits=args.bits, group_size=args.group_size,
                                       optimize=True, axis=1, compute_dtype=torch.float32,
                                       device="cpu", bitpack=False), max(1, args.repeats // 2))
    except ImportError:
        pass
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
    path = write_result("quant_speed", {"args": vars(args), "throughput": rows,
                                        "per_layer": layer_rows})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

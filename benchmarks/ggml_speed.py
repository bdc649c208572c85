"""How long a llama.cpp-typed setting takes to build at TinyLlama-1.1B's shape.

    python -m benchmarks.ggml_speed [--blocks 22]

One decoder block of TinyLlama-1.1B (hidden 2048, intermediate 5632, 4 key/value heads of 64:
q/o 2048x2048, k/v 256x2048, gate/up 5632x2048, down 2048x5632; random weights, a random
importance matrix) is quantized by the ``ggml`` method for every offered type (ggml's own
``ggml_quantize_chunk`` on all threads torch uses, after rounding to fp16) and read back by
ggml's ``to_float``; every block of the model has this shape, so a setting's build time for
the whole decoder is ``--blocks`` times the block's (stated as such). The default llama.cpp
pair (IQ1_M with its importance matrix, Q4_K) is what the first slider move on a real model
waits for.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import print_table, write_result
from luq.quant import InputStats, QuantSpec, dequantize, quantize_weight
from luq.quant.ggml_types import OFFERED, TYPES

SHAPES = {"q_proj": (2048, 2048), "k_proj": (256, 2048), "v_proj": (256, 2048),
          "o_proj": (2048, 2048), "gate_proj": (5632, 2048), "up_proj": (5632, 2048),
          "down_proj": (2048, 5632)}
PAIR = ("IQ1_M", "Q4_K")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=22, help="decoder blocks of the model")
    ap.add_argument("--types", nargs="*", default=list(OFFERED))
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    weights = {k: torch.randn(shape, generator=g) * 0.02 for k, shape in SHAPES.items()}
    stats = {}
    for k, (_, n_in) in SHAPES.items():
        stats[k] = InputStats(n_in, hessian=False, samples=False)
        stats[k].add_batch(torch.randn(256, n_in, generator=g))
    rows = []
    for name in args.types:
        spec = QuantSpec.ggml(name)
        start = time.perf_counter()
        stored = {k: quantize_weight(w, spec, stats[k]) for k, w in weights.items()}
        quantize_s = time.perf_counter() - start
        start = time.perf_counter()
        for qw in stored.values():
            dequantize(qw)
        read_s = time.perf_counter() - start
        rows.append({"type": name, "bits_per_weight": round(TYPES[name].bits_per_weight, 4),
                     "block_quantize_s": round(quantize_s, 3),
                     "model_quantize_s": round(quantize_s * args.blocks, 1),
                     "block_to_float_s": round(read_s, 3),
                     "block_mb": round(sum(q.nbytes for q in stored.values()) / 1e6, 3)})
    print_table(rows)
    by_type = {r["type"]: r for r in rows}
    summary = {}
    if all(t in by_type for t in PAIR):
        summary = {"default_pair": "+".join(PAIR),
                   "default_pair_model_s": round(sum(by_type[t]["model_quantize_s"]
                                                     for t in PAIR), 1),
                   "target_s": 60}
        print(summary)
    write_result("ggml_speed", {"shape": "TinyLlama-1.1B", "blocks": args.blocks,
                                "threads": torch.get_num_threads(),
                                "weights_per_block": sum(o * i for o, i in SHAPES.values()),
                                "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()

"""How long a llama.cpp-typed setting takes to build at TinyLlama-1.1B's shape.

    python -m benchmarks.ggml_speed [--blocks 22]

One decoder block of TinyLlama-1.1B (hidden 2048, intermediate 5632, 4 key/value heads of 64:
q/o 2048x2048, k/v 256x2048, gate/up 5632x2048, down 2048x5632; random weights, a random
importance matrix) is quantized by the ``ggml`` method for every offered type (ggml's own
``ggml_quantize_chunk`` on all threads torch uses, after rounding to fp16) and read back by
ggml's ``to_float``; every block of the model has this shape, so a setting's build time for
the whole decoder is ``--blocks`` times the block's (stated as such). The default llama.cpp
pair (:mod:`luq.defaults`: Q1_0, Q4_K with its importance matrix) is what the first slider
move on a real model waits for; the pair the issue first named (IQ1_M, Q4_K) is given too.
Q4_K, Q2_K and IQ1_M with an importance matrix run in :mod:`luq.engines.q4k`,
:mod:`luq.engines.q2k` and :mod:`luq.engines.iq1m` (ggml's bytes, sub-blocks as SIMD lanes);
``LUQ_GGML_ONLY=1`` times ggml's own scalar searches instead. Each type's one-time
work (ggml's grids, numba's compile or its cache) is timed apart, on an 8-row slice, as
``first_call_s``.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import print_table, write_result
from luq import defaults
from luq.engines import ggml
from luq.quant import InputStats, QuantSpec, dequantize, quantize_weight
from luq.quant.ggml_types import OFFERED, TYPES

SHAPES = {"q_proj": (2048, 2048), "k_proj": (256, 2048), "v_proj": (256, 2048),
          "o_proj": (2048, 2048), "gate_proj": (5632, 2048), "up_proj": (5632, 2048),
          "down_proj": (2048, 5632)}
PAIRS = {"default_pair": (defaults.LOW.type, defaults.HIGH.type), "iq1m_pair": ("IQ1_M", "Q4_K")}


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
        start = time.perf_counter()  # one-time work: IQ grids, numba's compile or cache load
        quantize_weight(weights["q_proj"][:8], spec, stats["q_proj"])
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        stored = {k: quantize_weight(w, spec, stats[k]) for k, w in weights.items()}
        quantize_s = time.perf_counter() - start
        start = time.perf_counter()
        for qw in stored.values():
            dequantize(qw)
        read_s = time.perf_counter() - start
        rows.append({"type": name, "bits_per_weight": round(TYPES[name].bits_per_weight, 4),
                     "first_call_s": round(first_s, 3),
                     "block_quantize_s": round(quantize_s, 3),
                     "model_quantize_s": round(quantize_s * args.blocks, 1),
                     "block_to_float_s": round(read_s, 3),
                     "block_mb": round(sum(q.nbytes for q in stored.values()) / 1e6, 3)})
    print_table(rows)
    by_type = {r["type"]: r for r in rows}
    summary = {"target_s": 60, "lanes": sorted(t for t in ggml.LANES if ggml.lanes_for(t))}
    for key, pair in PAIRS.items():
        if all(t in by_type for t in pair):
            summary[key] = "+".join(pair)
            summary[f"{key}_model_s"] = round(sum(by_type[t]["model_quantize_s"] for t in pair), 1)
    print(summary)
    write_result("ggml_speed", {"shape": "TinyLlama-1.1B", "blocks": args.blocks,
                                "threads": torch.get_num_threads(),
                                "weights_per_block": sum(o * i for o, i in SHAPES.values()),
                                "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()

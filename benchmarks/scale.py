"""Time and memory of the whole LUQ path on a large random LLaVA, step by step.

    python -m benchmarks.scale [--hidden 2048 --intermediate 5632 --layers 22 --heads 32
                                --kv-heads 4 --samples 64 --dtype float32]

The decoder has the given shape (default: TinyLlama-1.1B's), random weights, the tiny CLIP
tower and the tiny word-level vocabulary, so nothing is downloaded. Steps: build ->
entropy profile (k-means K=100) -> calibration statistics for the default settings ->
every block's variants for the default high and ultra-low settings -> plan at 75 % of the
uniform high setting's size -> apply -> one answer. Each step reports its seconds and its
peak RSS; the run reports the fp32 model's bytes, the plan's accounted bytes and the bytes
the applied model actually holds. Writes ``benchmarks/results/scale.json``.

``--memory-gb N`` (or ``--memory-x-fp32 1.3``: that multiple of the fp32 weights) runs it under
the process memory limit of :mod:`luq.memlimit`, as the CLI's ``--memory-gb`` does: the dense
cache and the answer's batch fit the room left, and the variant store spills the originals
(:mod:`luq.spill`) once their variants exist; the check is then the peak RSS against the
limit (``scale_limited.json``). ``--low-type IQ1_M`` builds that llama.cpp type as the
ultra-low setting instead of the default (``scale_IQ1_M.json``).

On a machine shared with other busy processes, run it as ``OMP_WAIT_POLICY=PASSIVE python -m
benchmarks.scale``: torch's worker threads otherwise spin after every parallel region, lose
their core to the other process and stall each following operation by a scheduler time
slice (several times slower overall). The result records the policy and the load average.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from transformers import AutoModelForImageTextToText

from benchmarks.common import print_table, write_result
from luq.apply import VariantStore
from luq.calibration import CalibrationConfig, calibration_batches
from luq.defaults import HIGH, LOW
from luq.embedded import load_split, text_prompts
from luq.evaluation.answer import answer_batch
from luq.memlimit import MemoryLimit, limited
from luq.memory import model_layout, plan_memory, resident_weight_bytes
from luq.models.adapters import adapter_for
from luq.models.tiny import tiny_llava_config, tiny_llava_processor
from luq.plan import BitPlan
from luq.profile import EntropyConfig, profile_entropy
from luq.quant import QuantSpec
from luq.resources import peak_rss_bytes, process_rss_bytes, reset_peak_rss
from luq.select import greedy_select, layer_order
from luq.statistics import collect_statistics

GB = 1e9
TARGETS = {"peak_rss_x_fp32": 2.0, "peak_rss_x_limit": 1.0, "statistics_s": 60,
           "variants_s": 120, "answer_s": 5, "resident_vs_accounted": 0.10}


def build(args) -> torch.nn.Module:
    config = tiny_llava_config(args.layers)
    text = config.text_config
    text.hidden_size, text.intermediate_size = args.hidden, args.intermediate
    text.num_attention_heads, text.num_key_value_heads = args.heads, args.kv_heads
    text.head_dim = args.hidden // args.heads
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config)
    return model.to(getattr(torch, args.dtype)).eval()


def run(args) -> dict:
    steps: list[dict] = []
    load_before = os.getloadavg()

    def step(name: str, fn):
        reset_peak_rss()
        start = time.perf_counter()
        value = fn()
        steps.append({"step": name, "seconds": round(time.perf_counter() - start, 2),
                      "peak_rss_gb": round(peak_rss_bytes() / GB, 3),
                      "rss_after_gb": round(process_rss_bytes() / GB, 3)})
        print(f"{name}: {steps[-1]}", flush=True)
        return value

    model = step("build", lambda: build(args))
    params = sum(p.numel() for p in model.parameters())
    gb = args.memory_gb or (args.memory_x_fp32 and args.memory_x_fp32 * params * 4 / GB)
    limit = MemoryLimit(int(gb * GB), "cpu", "--memory-gb") if gb else None
    with limited(limit):
        return _steps(args, model, params, limit, steps, step, load_before)


def _steps(args, model, params, limit, steps, step, load_before) -> dict:
    low = QuantSpec.ggml(args.low_type) if args.low_type else LOW
    adapter = adapter_for(model)
    processor = tiny_llava_processor()
    layout = model_layout(model, adapter)
    batches = calibration_batches(processor, load_split("calibration"), text_prompts(),
                                  CalibrationConfig(args.samples))
    profile = step("profile", lambda: profile_entropy(
        model, adapter, batches, "scale", {}, EntropyConfig("kmeans", clusters=args.clusters)))
    stats = step("statistics", lambda: collect_statistics(model, adapter, batches, [HIGH, low]))
    dense_limit = None if args.dense_limit_mb is None else int(args.dense_limit_mb * 1e6)
    store = VariantStore(model, adapter, stats,
                         dense_limit="auto" if dense_limit is None else dense_limit)

    def variants() -> None:
        store.prepare([HIGH, low])
        store.stats = None
        stats.clear()

    step("variants", variants)
    def size(spec):
        return plan_memory(layout, BitPlan.uniform(layout.block_names, spec)).total_bytes

    budget = max(int(0.75 * size(HIGH)), size(low))  # tiny shapes cannot reach 75 %
    ordered = layer_order(layout.block_names, "entropy", profile.values())
    selection = step("plan", lambda: greedy_select(layout, ordered, HIGH, low, budget))
    plan = selection.plan
    step("apply", lambda: store.apply(plan))
    report = plan_memory(layout, plan)
    resident = resident_weight_bytes(model)  # no dense weight yet: packed + full precision
    row = load_split("test", 1)[0]
    answer = step("answer", lambda: answer_batch(model, processor, [row["image"]],
                                                 [row["question"]])[0])
    fp32_bytes = params * 4
    # only the full-precision parts are held at the model's own width (2 bytes accounted)
    fp_parts = report.full_precision_bytes * (model.dtype.itemsize / 2 - 1)
    seconds = {s["step"]: s["seconds"] for s in steps}
    peak = max(s["peak_rss_gb"] for s in steps) * GB
    checks = {
        "peak_rss_x_fp32": round(peak / fp32_bytes, 3),
        **({"peak_rss_x_limit": round(peak / limit.nbytes, 3)} if limit else {}),
        "resident_vs_accounted": round(resident / (report.total_bytes + fp_parts) - 1, 4),
        "statistics_s": seconds["statistics"], "variants_s": seconds["variants"],
        "answer_s": seconds["answer"],
    }
    met = {k: abs(v) <= TARGETS[k] for k, v in checks.items()}
    spilled = len(store.spilled)
    return {
        "args": vars(args), "steps": steps, "answer": answer,
        "params": params,
        "fp32_bytes": fp32_bytes, "accounted_bytes": report.total_bytes,
        "full_precision_bytes": report.full_precision_bytes,
        "resident_weight_bytes": resident,
        "resident_after_answer_bytes": resident_weight_bytes(model),
        "dense_cache_bytes": store.dense.nbytes, "dense_limit_bytes": store.dense.limit,
        "memory_limit_bytes": limit.nbytes if limit else None, "blocks_spilled": spilled,
        "n_low": plan.count(low), "high": HIGH.label, "low": low.label,
        "peak_rss_bytes": int(peak), "checks": checks, "targets": TARGETS, "met": met,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--intermediate", type=int, default=5632)
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--samples", type=int, default=64, help="calibration prompts")
    ap.add_argument("--clusters", type=int, default=100, help="k-means K of the profile")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--dense-limit-mb", type=float, default=None,
                    help="dense-cache bound (default: the store's automatic one)")
    ap.add_argument("--memory-gb", type=float, default=None,
                    help="process memory limit in GB (luq.memlimit)")
    ap.add_argument("--memory-x-fp32", type=float, default=None,
                    help="the limit as a multiple of the fp32 weights (e.g. 1.3)")
    ap.add_argument("--low-type", default=None,
                    help="a llama.cpp type for the ultra-low setting (default: luq.defaults)")
    ap.add_argument("--no-write", action="store_true", help="print only (smoke tests)")
    args = ap.parse_args(argv)
    result = run(args)
    print_table(result["steps"])
    print({k: result[k] for k in ("fp32_bytes", "accounted_bytes", "resident_weight_bytes",
                                  "resident_after_answer_bytes", "dense_cache_bytes")})
    print("checks", result["checks"], "met", result["met"])
    if not args.no_write:
        name = "scale_limited" if result["memory_limit_bytes"] else "scale"
        name += f"_{args.low_type}" if args.low_type else ""
        print(f"wrote {write_result(name, result)}")
    return result


if __name__ == "__main__":
    main()

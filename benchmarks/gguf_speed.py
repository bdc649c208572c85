"""Real llama.cpp speed and size of LUQ GGUFs against uniform Q4_K_M, measured in one run.

    python -m benchmarks.gguf_speed [--layers 22 --prompt 128 --decode 64 --rounds 5]

A random-weight decoder of TinyLlama-1.1B's shape (hidden 2048, intermediate 5632, 22 blocks,
32 query / 4 key-value heads, vocabulary 32000) goes once through llama.cpp's converter (F16),
then is re-quantized by ggml as uniform Q4_K_M and as LUQ files with half the blocks (the odd
ones) at each ultra-low type (IQ1_M and IQ2_XXS with an importance matrix from random-token
calibration), and as the allocator's plan among Q1_0, IQ1_M, Q2_K, Q3_K and Q4_K within 0.75x
the Q4_K_M file, predicted (``luq.speed``, this machine's ``benchmarks.decode_costs`` table) to
decode at least ``--min-speed`` x Q4_K_M's speed; its damage is each type's weighted error on
one block (random weights: every block alike). Each file runs in a fresh process (so RSS is
llama.cpp's alone) with 2 threads, the files taking turns each round in a rotating order;
prompt and decode tokens per second are llama.cpp's own timings, the best round (other jobs
only slow a run) beside the median. RSS counts the mmapped file plus llama.cpp's buffers, and
the copies it makes of the tensors its CPU backend repacks (Q4_K...). Random weights: size and
speed only, never quality.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table, write_result

ULTRA_LOW = ("IQ1_M", "Q1_0", "Q2_K", "IQ2_XXS")
ALLOCATE = ("Q1_0", "IQ1_M", "Q2_K", "Q3_K", "Q4_K")  # the allocator's candidate types
SIZE_LIMIT = 0.75  # of the Q4_K_M file: the allocator's budget


def llama_layout(model):
    """The stand-in's shapes as the explorer prices them (block linears, head, embeddings)."""
    from torch import nn

    from luq.memory import BlockLayout, ModelLayout

    blocks = tuple(BlockLayout(f"model.layers.{i}", tuple(
        (f"model.layers.{i}.{n}", (m.out_features, m.in_features))
        for n, m in layer.named_modules() if isinstance(m, nn.Linear)), 0)
        for i, layer in enumerate(model.model.layers))
    shape = tuple(model.lm_head.weight.shape)
    return ModelLayout("llama", blocks, (), (("embeddings", shape), ("lm_head", shape)))


def type_damage(model, imatrix: dict) -> dict[str, float]:
    """Each candidate type's importance-weighted relative squared error on block 0 (random
    weights: every block is alike, so one block stands for all)."""
    import numpy as np
    from torch import nn

    from luq.engines import ggml

    damage = {}
    for qtype in ALLOCATE:
        err = ref = 0.0
        for name, m in model.model.layers[0].named_modules():
            if not isinstance(m, nn.Linear):
                continue
            w = m.weight.detach().half().float().numpy()
            imp = imatrix[f"model.layers.0.{name}"].numpy().astype(np.float32)
            back = ggml.dequantize(ggml.quantize(np.ascontiguousarray(w), qtype, imp), qtype,
                                   w.shape[1])
            err += float(((w - back) ** 2 * imp).sum())
            ref += float((w ** 2 * imp).sum())
        damage[qtype] = err / ref
    return damage


def allocated_plan(model, imatrix: dict, q4_k_m_path: Path, min_speed: float):
    """The allocator's plan among :data:`ALLOCATE` in :data:`SIZE_LIMIT` of the Q4_K_M file,
    predicted at least ``min_speed`` x its decode speed (this machine's cost table)."""
    import gguf

    from luq.allocate import block_costs, pareto_frontier, plan_at
    from luq.damage import speed_limits
    from luq.quant.spec import QuantSpec

    layout = llama_layout(model)
    specs = [QuantSpec.ggml(t) for t in ALLOCATE]
    per_type = type_damage(model, imatrix)
    damage = {s.label: [per_type[s.type]] * len(layout.blocks) for s in specs}
    times, limit = speed_limits(layout, specs, min_speed)
    frontier = pareto_frontier(block_costs(layout, specs, damage), specs, times, limit)
    size = q4_k_m_path.stat().st_size
    blocks = sum(int(t.n_bytes) for t in gguf.GGUFReader(q4_k_m_path).tensors
                 if t.name.startswith("blk."))
    index = frontier.best(int(SIZE_LIMIT * size) - (size - blocks))
    if index is None:
        raise SystemExit(f"no plan of {ALLOCATE} fits {SIZE_LIMIT}x Q4_K_M at {min_speed}x "
                         "its predicted speed")
    return plan_at(layout, frontier, index), per_type


def predictions(model, plans: dict) -> dict[str, float]:
    """Each file's predicted decode speed over Q4_K_M's (``luq.speed``, this machine's table)."""
    from luq.speed import load_costs, relative_speed

    costs, layout = load_costs(), llama_layout(model)
    return {label: round(relative_speed(layout, plan, costs, ultra_low), 3)
            for label, (plan, ultra_low) in plans.items()}


def measure(path: str, threads: int, prompt: int, decode: int) -> dict:
    """One load and one timed greedy answer (after a short warm-up) in this process."""
    import random

    from luq.engines.llamacpp import LlamaCppModel, rss_bytes

    ids = [1] + [random.Random(0).randrange(3, 300) for _ in range(prompt - 1)]
    with LlamaCppModel(path, n_threads=threads, n_ctx=prompt + decode + 16) as engine:
        rss = {"rss_bytes": engine.rss_after_load, "rss_file_bytes": rss_bytes("RssFile"),
               "rss_anon_bytes": rss_bytes("RssAnon")}
        engine.answer(ids[:8], max_tokens=4, ignore_eos=True)
        answer = engine.answer(ids, max_tokens=decode, ignore_eos=True)
        return {**rss, "prompt_tok_s": answer.prompt_tok_s, "decode_tok_s": answer.decode_tok_s,
                "prompt_tokens": answer.prompt_tokens, "decode_tokens": answer.decode_tokens}


def interleaved_runs(paths: dict[str, str | Path], rounds: int, threads: int, prompt: int,
                     decode: int) -> dict[str, list[dict]]:
    """Each file measured once per round in a fresh process (:func:`measure`), the files
    taking turns in an order rotated every round; per label, one dict per round."""
    runs: dict[str, list[dict]] = {label: [] for label in paths}
    labels = list(paths)
    for r in range(rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.gguf_speed", "--measure", str(paths[label]),
                 "--threads", str(threads), "--prompt", str(prompt), "--decode", str(decode)],
                capture_output=True, text=True, check=True)
            runs[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}/{rounds} done", flush=True)
    return runs


def build_files(work: Path, layers: int, calibration_tokens: int,
                min_speed: float = 1.0) -> tuple[dict[str, tuple[Path, str]], dict, dict]:
    """Exports the stand-in model as Q4_K_M, one LUQ file per ultra-low type and the
    allocator's plan; returns the files, their predicted speeds and the allocator's damage."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from luq.engines.convert import sentencepiece_tokenizer
    from luq.export.gguf import compute_imatrix, export_gguf
    from luq.plan import BitPlan
    from luq.quant.spec import QuantSpec

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers,
                         num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                         max_position_embeddings=2048, bos_token_id=1, eos_token_id=2,
                         tie_word_embeddings=False)
    start = time.perf_counter()
    model = LlamaForCausalLM(config).eval()
    names = [f"model.layers.{i}" for i in range(layers)]
    words = "the a red green blue circle square how many what is there one two".split()
    tok = sentencepiece_tokenizer(work / "tok", [" ".join(words[i:] + words[:i])
                                                 for i in range(len(words))] * 20)
    g = torch.Generator().manual_seed(0)
    batches = [{"input_ids": torch.randint(3, 300, (1, calibration_tokens // 2), generator=g)}
               for _ in range(2)]
    high = QuantSpec("rtn", 4, 64)  # the export stores it as Q4_K_M's types
    imatrix = compute_imatrix(model, BitPlan.uniform(names, high), batches)
    print(f"model and importance matrix: {time.perf_counter() - start:.0f} s", flush=True)
    files, plans, damage = {}, {}, {}
    base = None
    for label in ("Q4_K_M",) + tuple(f"LUQ {t}" for t in ULTRA_LOW) + ("allocate",):
        began = time.perf_counter()
        qtype = label.split()[-1]
        ultra_low = None
        if label == "allocate":
            plan, damage = allocated_plan(model, imatrix, files["Q4_K_M"][0], min_speed)
        else:
            plan = BitPlan.uniform(names, high) if label == "Q4_K_M" else BitPlan.mixed(
                names, high, QuantSpec.ggml(qtype), names[1::2])
        plans[label] = (plan, ultra_low)
        export = export_gguf(model, plan, work / qtype, imatrix=imatrix, base=base,
                             keep_base=True, tokenizer_dir=tok, name=qtype.lower(),
                             ultra_low=ultra_low)
        base = export.base
        low = sorted({t for i, t in export.block_types.items() if i % 2}) \
            if label != "allocate" else [f"{t} x{list(export.block_types.values()).count(t)}"
                                         for t in ALLOCATE if t in export.block_types.values()]
        files[label] = (export.model, "+".join(low) if label != "Q4_K_M" else "none")
        print(f"{label}: {export.model_bytes / 1e6:.0f} MB in {time.perf_counter() - began:.0f} s",
              flush=True)
    base.unlink()
    return files, predictions(model, plans), damage


def summarize(files: dict[str, tuple[Path, str]], runs: dict[str, list[dict]],
              predicted: dict[str, float] | None = None) -> list[dict]:
    """One row per file: size, RSS, best and median speeds, and ratios to the first file.

    The best round is the headline: other jobs on a shared machine only ever slow a run down.
    """
    rows = []
    for label, (path, low) in files.items():
        done = runs[label]
        rows.append({"file": label, "ultra-low blocks": low,
                     "MB": round(path.stat().st_size / 1e6, 1),
                     "RSS MB": round(statistics.median(r["rss_bytes"] for r in done) / 1e6, 1),
                     "prompt tok/s": round(max(r["prompt_tok_s"] for r in done), 2),
                     "decode tok/s": round(max(r["decode_tok_s"] for r in done), 2),
                     "prompt med": round(statistics.median(r["prompt_tok_s"] for r in done), 2),
                     "decode med": round(statistics.median(r["decode_tok_s"] for r in done), 2)})
    ref = rows[0]
    for row in rows:
        for key, ratio in (("MB", "size x"), ("RSS MB", "RSS x"), ("prompt tok/s", "prompt x"),
                           ("decode tok/s", "decode x")):
            row[ratio] = round(row[key] / ref[key], 3)
        if predicted and row["file"] in predicted:
            row["predicted decode x"] = predicted[row["file"]]
            row["prediction error"] = round(predicted[row["file"]] / row["decode x"] - 1, 3)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--prompt", type=int, default=128, help="prompt tokens")
    ap.add_argument("--decode", type=int, default=64, help="generated tokens")
    ap.add_argument("--rounds", type=int, default=5, help="timed runs per file, interleaved")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calibration-tokens", type=int, default=256)
    ap.add_argument("--min-speed", type=float, default=1.0,
                    help="the allocator's plan: predicted decode speed at least this x Q4_K_M")
    ap.add_argument("--workdir", help="keep the GGUFs here (and reuse them when present)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # child mode: one file, JSON out
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.threads, args.prompt, args.decode)))
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="luq-gguf-speed-"))
    load = {"before": os.getloadavg()}
    try:
        saved = json.loads((work / "files.json").read_text()) if (
            work / "files.json").is_file() else None
        if saved is None:
            built, predicted, damage = build_files(work, args.layers, args.calibration_tokens,
                                                   args.min_speed)
            saved = {"files": {k: (str(p), low) for k, (p, low) in built.items()},
                     "predicted": predicted, "damage": damage}
            (work / "files.json").write_text(json.dumps(saved))
        files, predicted = saved["files"], saved["predicted"]
        files = {k: (Path(p), low) for k, (p, low) in files.items()}
        runs = interleaved_runs({k: p for k, (p, _) in files.items()}, args.rounds,
                                args.threads, args.prompt, args.decode)
        rows = summarize(files, runs, predicted)
        load["after"] = os.getloadavg()  # other jobs on a shared machine skew the speeds
        print(f"TinyLlama-1.1B-shaped random decoder ({args.layers} blocks), llama.cpp "
              f"{args.threads} threads, {args.prompt}-token prompt, {args.decode} decoded; "
              f"tok/s = best of {args.rounds} interleaved rounds (med = median); "
              f"x = ratio to Q4_K_M; load average before / after {load['before']} / "
              f"{load['after']}")
        print_table(rows)
        from luq.speed import load_costs

        path = write_result("gguf_speed", {"args": vars(args), "load_average": load,
                                           "rows": rows, "runs": runs,
                                           "allocator_damage": saved["damage"],
                                           "decode_costs": load_costs().to_dict()})
        print(f"\nwrote {path}")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

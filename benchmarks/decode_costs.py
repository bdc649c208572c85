"""llama.cpp's decode cost per weight of every offered ggml type, measured once per machine.

    python -m benchmarks.decode_costs [--blocks 4 --threads 2 --rounds 3]

A random-weight decoder of TinyLlama-1.1B's row widths (hidden 2048, intermediate 5632, 32
query / 4 key-value heads of 64, vocabulary 32000; ``--hidden`` etc. for a quick try) with
``--blocks`` blocks is converted once by llama.cpp's converter and re-quantized by ggml with
every block at one type (each type a ``ggml`` setting, so no Q4_K_M mixing; the importance
matrix from random-token calibration).
A second, one-block model at Q4_K separates the per-block cost from the rest (output head,
sampling). Each file decodes in a fresh process with ``--threads`` threads, files taking turns
each round; the best round's decode time per token is the figure (other jobs only slow a run).

Per type T: ``t_T = c + blocks * W * k_T`` (W weights per block); the Q4_K files at 1 and
``blocks`` blocks give ``k_Q4_K`` and ``c``, then every ``k_T = (t_T - c) / (blocks * W)``.
``k_T`` (ns per weight per decoded token) is written to ``benchmarks/results/decode_costs.json``
and to this machine's cache (``luq.speed``), from which the explorer predicts each plan's
decode speed relative to uniform Q4_K_M. ``c - head * k_Q6_K`` is what no weight accounts for;
the prediction leaves it out (it is reported, to show how small it is at this shape).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, print_table, write_result


def build(work: Path, blocks: int, types: list[str], calibration_tokens: int,
          hidden: int, intermediate: int, vocab: int) -> dict:
    """The GGUFs: ``{label: (path, blocks)}``, every block of a file at one type."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from luq.engines.convert import sentencepiece_tokenizer
    from luq.export.gguf import compute_imatrix, export_gguf
    from luq.plan import BitPlan
    from luq.quant.spec import FULL_PRECISION, QuantSpec

    words = "the a red green blue circle square how many what is there one two".split()
    tok = sentencepiece_tokenizer(work / "tok", [" ".join(words[i:] + words[:i])
                                                 for i in range(len(words))] * 20)
    files = {}
    for layers, wanted in ((1, ["Q4_K"]), (blocks, types)):
        torch.manual_seed(0)
        config = LlamaConfig(hidden_size=hidden, intermediate_size=intermediate,
                             num_hidden_layers=layers, num_attention_heads=hidden // 64,
                             num_key_value_heads=max(1, hidden // 512), vocab_size=vocab,
                             max_position_embeddings=2048, bos_token_id=1, eos_token_id=2,
                             tie_word_embeddings=False)
        model = LlamaForCausalLM(config).eval()
        names = [f"model.layers.{i}" for i in range(layers)]
        g = torch.Generator().manual_seed(0)
        batches = [{"input_ids": torch.randint(3, 300, (1, calibration_tokens // 2),
                                               generator=g)} for _ in range(2)]
        imatrix = compute_imatrix(model, BitPlan.uniform(names, FULL_PRECISION), batches)
        base = None
        for qtype in wanted:
            began = time.perf_counter()
            spec = FULL_PRECISION if qtype == "F16" else QuantSpec.ggml(qtype)
            export = export_gguf(model, BitPlan.uniform(names, spec), work / f"{qtype}-{layers}",
                                 imatrix=imatrix, base=base, keep_base=True, tokenizer_dir=tok,
                                 name=f"{qtype.lower()}-{layers}")
            base = export.base
            files[f"{qtype} x{layers}"] = (str(export.model), layers, qtype)
            print(f"{qtype} x{layers}: {export.model_bytes / 1e6:.0f} MB in "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
        base.unlink()
        del model
    return files


def fit(files: dict, best_s: dict[str, float], blocks: int, hidden: int, intermediate: int,
        vocab: int) -> tuple[dict, dict]:
    """Per type, ns per weight per token; and the fit's constants."""
    kv = max(1, hidden // 512) * 64
    w_block = 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * intermediate
    one, many = best_s["Q4_K x1"], best_s[f"Q4_K x{blocks}"]
    per_block = (many - one) / (blocks - 1)
    c = one - per_block
    costs = {qtype: (best_s[label] - c) / (blocks * w_block) * 1e9
             for label, (_, layers, qtype) in files.items() if layers == blocks}
    head = hidden * vocab
    return costs, {"weights_per_block": w_block, "per_block_q4_k_s": per_block,
                   "constant_s": c, "head_weights": head,
                   "unaccounted_s": c - head * costs.get("Q6_K", costs["Q4_K"]) * 1e-9}


def main() -> None:
    from benchmarks.gguf_speed import interleaved_runs
    from luq.quant.ggml_types import OFFERED, TYPES
    from luq.speed import SHIPPED, DecodeCosts, save_costs

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--intermediate", type=int, default=5632)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--types", nargs="+", default=["F16", *OFFERED])
    ap.add_argument("--prompt", type=int, default=128, help="prompt tokens")
    ap.add_argument("--decode", type=int, default=64, help="generated tokens")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per file, interleaved")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calibration-tokens", type=int, default=256)
    ap.add_argument("--workdir", help="keep the GGUFs here (and reuse them when present)")
    ap.add_argument("--ship", action="store_true",
                    help="also write the table the explorer ships (assets/decode_costs.json)")
    args = ap.parse_args()
    if args.blocks < 2:
        ap.error("--blocks must be at least 2 (the 1-block file is the fit's other point)")
    if "Q4_K" not in args.types:
        ap.error("--types must include Q4_K (the fit's reference)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="luq-decode-costs-"))
    try:
        index = work / "files.json"
        files = json.loads(index.read_text()) if index.is_file() else None
        if files is None:
            files = build(work, args.blocks, args.types, args.calibration_tokens, args.hidden,
                          args.intermediate, args.vocab)
            index.write_text(json.dumps(files))
        runs = interleaved_runs({k: path for k, (path, _, _) in files.items()}, args.rounds,
                                args.threads, args.prompt, args.decode)
        best_s = {label: 1.0 / max(r["decode_tok_s"] for r in done)
                  for label, done in runs.items()}
        costs, constants = fit(files, best_s, args.blocks, args.hidden, args.intermediate,
                               args.vocab)
        about = machine()
        table = DecodeCosts(
            ns_per_weight=tuple(sorted((t, round(v, 6)) for t, v in costs.items())),
            threads=args.threads, date=about["date"],
            machine=f"{about['cpu']}, {about['cores']} cores",
            shape=f"rows {args.hidden} / {args.intermediate}, {args.blocks} blocks, "
                  f"vocabulary {args.vocab}")
        cached = save_costs(table)
        if args.ship:
            save_costs(table, SHIPPED)
        rows = [{"type": label.split()[0], "blocks": layers,
                 "bits": round(TYPES[q].bits_per_weight, 4) if q in TYPES else 16.0,
                 "decode tok/s": round(1 / best_s[label], 2),
                 "ms/token": round(best_s[label] * 1e3, 2),
                 "ns/weight": round(costs[q], 5) if layers == args.blocks else None,
                 "x Q4_K": round(costs[q] / costs["Q4_K"], 3) if layers == args.blocks
                 else None}
                for label, (_, layers, q) in files.items()]
        print(f"llama.cpp decode, {args.threads} threads, best of {args.rounds} rounds; "
              f"fit: {constants}")
        print_table(rows)
        path = write_result("decode_costs", {"args": vars(args), "table": table.to_dict(),
                                             "fit": constants, "rows": rows, "runs": runs})
        print(f"\nwrote {path} and {cached}")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

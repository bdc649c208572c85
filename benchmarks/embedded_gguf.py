"""The embedded model in llama.cpp: the default LUQ plan as GGUF + mmproj against PyTorch.

    python -m benchmarks.embedded_gguf [--n 1000] [--ggml-only]

For full precision (F16 GGUF), uniform 4-bit and the LUQ plan at the app's default budget:
test-split accuracy in PyTorch and in llama.cpp (image + question in, answer out); the model
GGUF's bytes against the plan's accounted bytes of the parts it holds (decoder, embeddings,
head, norms), the mmproj's against the vision tower's and projector's, and the decoder
blocks alone (llama.cpp's Q4_K_M puts some attn_v / ffn_down at Q6_K, Q8_0 on these short
rows); RSS added by loading; llama.cpp's prompt / decode speed. BiLLM-style binarization
has no GGUF type; its blocks are stored as the table's type (IQ1_M, or Q1_0 where 256 does
not divide a row: the embedded model's 128- and 384-wide rows), so the two LUQ columns
differ by that mapping as well as by the engine; the full-precision row measures the engine
alone.

Then, for every ultra-low llama.cpp type offered (``luq.quant.ggml_types.ULTRA_LOW``), the LUQ
plan at the app's default budget with that type low and Q4_K high, both ``ggml`` settings: the
GGUF holds the variant's own bytes, so PyTorch and llama.cpp differ only by the engine
(llama.cpp's 8-bit activations in its matrix products). ``answers_identical`` is the share of
questions both engines answer with the same (normalised) word.
"""

from __future__ import annotations

import argparse

import gguf
import numpy as np
import torch
from gguf.quants import dequantize

from benchmarks.common import print_table, write_result
from luq.defaults import RESEARCH_HIGH as HIGH  # the research pair's mapped GGUF rows
from luq.defaults import RESEARCH_LOW as LOW
from luq.deploy import GGUFStore, llamacpp_answerer
from luq.embedded import load_split
from luq.evaluation import evaluate, normalize_answer
from luq.models.loading import load_model
from luq.quant.ggml_types import ULTRA_LOW
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.session import Session

_HF_NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def _float_weight(tensor) -> np.ndarray:
    """A GGUF block weight as float (out, in); Q1_0 decoded here (gguf-py lacks it): per 128
    weights an fp16 scale and 16 bytes of sign bits, least significant bit first."""
    shape = [int(x) for x in reversed(tensor.shape)]
    if tensor.tensor_type.name == "Q1_0":
        blocks = np.asarray(tensor.data).reshape(-1, 18)
        scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
        bits = np.unpackbits(blocks[:, 2:], axis=1, bitorder="little")
        return (scale * (bits * 2.0 - 1)).reshape(shape)
    return dequantize(tensor.data, tensor.tensor_type).reshape(shape)


def gguf_weights_accuracy(session, path, rows) -> float:
    """PyTorch accuracy with the decoder-block weights read back from the GGUF (the
    converter's rotary permutation of q / k undone): separates what the GGUF types do to
    the weights from what the engine does."""
    heads = session.loaded.model.config.text_config.num_attention_heads
    weights = {}
    for t in gguf.GGUFReader(path).tensors:
        part = t.name.split(".")
        if part[0] != "blk" or part[2] not in _HF_NAMES:
            continue
        w = _float_weight(t)
        if part[2] in ("attn_q", "attn_k"):
            w = w.reshape(heads, w.shape[0] // heads // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)
        weights[f"model.language_model.layers.{part[1]}.{_HF_NAMES[part[2]]}.weight"] = w

    def run(loaded):
        model = loaded.model
        saved = {k: model.get_parameter(k).detach().clone() for k in weights}
        try:
            with torch.no_grad():
                for k, w in weights.items():
                    model.get_parameter(k).copy_(torch.from_numpy(np.ascontiguousarray(w)))
            return evaluate(model, loaded.processor, rows).accuracy
        finally:
            with torch.no_grad():
                for k, w in saved.items():
                    model.get_parameter(k).copy_(w)

    return session.run(None, run)


def block_bytes(path) -> int:
    """Bytes of the decoder-block tensors (``blk.*``) of a GGUF."""
    return sum(int(t.n_bytes) for t in gguf.GGUFReader(path).tensors if t.name.startswith("blk."))


def run_engine(engine, processor, rows) -> tuple[float, dict, list, list[str]]:
    answers: list = []
    texts = llamacpp_answerer(engine, processor, answers)(rows["image"], rows["question"], 3)
    right, per_type = [], {}
    for text, row in zip(texts, rows):
        ok = normalize_answer(text) == normalize_answer(row["answer"])
        right.append(ok)
        per_type.setdefault(row["question_type"], []).append(ok)
    return (sum(right) / len(right), {t: round(sum(v) / len(v), 4)
                                      for t, v in sorted(per_type.items())}, answers, texts)


def ggml_plans(session) -> dict:
    """The LUQ plan at the default budget for each ultra-low llama.cpp type, Q4_K high."""
    high = QuantSpec.ggml("Q4_K")
    plans = {f"uniform {high.label} (ggml)": session.uniform(high)}
    for name in ULTRA_LOW:
        low = QuantSpec.ggml(name)
        _, default, _ = session.budget_range(high, low)
        plan = session.plan_for_budget(default, high, low).plan
        plans[f"LUQ ggml {name} ({plan.count(low)} blocks) + Q4_K"] = plan
    return plans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="test questions")
    ap.add_argument("--ggml-only", action="store_true",
                    help="only the llama.cpp-typed plans (rows of the others are kept)")
    args = ap.parse_args()
    session = Session(load_model("embedded", device="cpu"))
    processor = session.loaded.processor
    rows = load_split("test", args.n)
    _, default, _ = session.budget_range(HIGH, LOW)
    luq = session.plan_for_budget(default, HIGH, LOW).plan
    plans = {} if args.ggml_only else {
        "full precision": session.uniform(FULL_PRECISION),
        f"uniform {HIGH.label}": session.uniform(HIGH),
        f"LUQ default ({luq.count(LOW)} blocks {LOW.label})": luq}
    plans.update(ggml_plans(session))
    store = GGUFStore(session, engines=1)
    out = []
    try:
        for name, plan in plans.items():
            torch_result = session.run(plan, lambda m: evaluate(m.model, m.processor, rows))
            torch_acc = torch_result.accuracy
            export = store.export(plan)
            engine = store.engine(plan)
            acc, per_type, answers, texts = run_engine(engine, processor, rows)
            same = [normalize_answer(a) == normalize_answer(b)
                    for a, b in zip(torch_result.predictions, texts)]
            report = engine.report(answers)
            accounted = session.memory(plan)
            parts = accounted.breakdown
            language = accounted.decoder_bytes + sum(parts.get(k, 0) for k in (
                "decoder_other", "embeddings", "lm_head", "norm"))
            vision = sum(parts.get(k, 0) for k in ("vision", "projector"))
            blocks = block_bytes(export.model)
            row = {"plan": name, "pytorch_accuracy": round(torch_acc, 4),
                   "llamacpp_accuracy": round(acc, 4), "llamacpp_per_type": per_type,
                   "answers_identical": round(sum(same) / len(same), 4),
                   "block_types": sorted(set(export.block_types.values())),
                   "stored_types": sorted({t for n, t in export.tensor_types.items()
                                           if n.startswith("blk.")}),
                   "gguf_block_bytes": blocks,
                   "accounted_decoder_bytes": accounted.decoder_bytes
                   + accounted.breakdown["decoder_other"],
                   "model_file_bytes": export.model_bytes,
                   "accounted_language_bytes": language,
                   "model_file_ratio": round(export.model_bytes / language, 4),
                   "mmproj_bytes": export.mmproj_bytes, "accounted_vision_bytes": vision,
                   "mmproj_ratio": round(export.mmproj_bytes / vision, 4),
                   "accounted_total_bytes": accounted.total_bytes,
                   "rss_load_delta_bytes": report["rss_load_delta_bytes"],
                   "prompt_tok_s": report["prompt_tok_s"], "decode_tok_s": report["decode_tok_s"],
                   "notes": export.notes}
            row["block_bytes_ratio"] = round(blocks / row["accounted_decoder_bytes"], 4)
            if plan is luq:
                row["pytorch_accuracy_gguf_weights"] = round(
                    gguf_weights_accuracy(session, export.model, rows), 4)
            out.append(row)
    finally:
        store.close()
    if args.ggml_only:  # keep the saved rows of the other plans
        from benchmarks.common import RESULTS

        saved = RESULTS / "embedded_gguf.json"
        if saved.exists():
            import json

            old = json.loads(saved.read_text())["rows"]
            out = [r for r in old if "ggml" not in r["plan"]] + out
    print_table([{k: r.get(k, "") for k in ("plan", "pytorch_accuracy", "llamacpp_accuracy",
                                         "answers_identical", "pytorch_accuracy_gguf_weights",
                                    "model_file_bytes", "accounted_language_bytes",
                                    "model_file_ratio", "mmproj_ratio", "block_bytes_ratio",
                                    "decode_tok_s")} for r in out])
    write_result("embedded_gguf", {"n": args.n, "threads": 2, "rows": out})


if __name__ == "__main__":
    main()

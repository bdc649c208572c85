"""The model card (README.md) written beside the embedded model's weights."""

from __future__ import annotations

from pathlib import Path

from transformers import LlavaConfig

from luq.embedded.render import COLORS, SHAPES, SIZE_RANGES, SIZES


def _percent(x: float) -> str:
    return f"{100 * x:.1f} %"


def write_model_card(out: Path, config: LlavaConfig, summary: dict) -> Path:
    """Writes ``out/README.md``: what the model is, how it was trained, what it can answer.

    Args:
        out: the model folder.
        config: the saved model's config.
        summary: what :func:`luq.embedded.train.train` returns; ``summary["test"]``
            holds the test-split evaluation (``EvalResult.to_dict()``).
    """
    v, t = config.vision_config, config.text_config
    test = summary["test"]
    per_type = ", ".join(f"{k} {_percent(a)}" for k, a in test["per_type"].items())
    steps = summary["steps"]
    lrs = summary["lrs"]
    text = f"""# LUQ Explorer embedded model (tiny LLaVA, coloured shapes)

**What it is.** A `LlavaForConditionalGeneration` built and trained from nothing by
`python -m luq.embedded.train` (this project): a SigLIP-style vision tower (no class token;
hidden {v.hidden_size}, {v.num_hidden_layers} layers, {v.image_size}x{v.image_size} images, patch
{v.patch_size} -> {(v.image_size // v.patch_size) ** 2} image tokens), a 2-layer GELU
projector and a Llama decoder (hidden {t.hidden_size}, intermediate {t.intermediate_size},
**{t.num_hidden_layers} layers**, {t.num_attention_heads} heads);
{summary["parameters"] / 1e6:.2f} M parameters, stored in fp16 safetensors. A SentencePiece
BPE tokenizer ({t.vocab_size} pieces, every known word one piece; `tokenizer.model`, and the
same pieces and merges as `tokenizer.json`, which also lowercases) and a `LlavaProcessor`
with a chat template (`user :<image>question assistant : answer<eos>`). It loads with
`AutoProcessor` and `AutoModelForImageTextToText.from_pretrained` from this folder, offline.

**Widths (third edition).** Every decoder linear has rows of {t.hidden_size} or
{t.intermediate_size} inputs, multiples of 256, so every llama.cpp type the explorer offers
(K- and i-quants store blocks of 256 weights) applies as itself; the tower and projector
({v.hidden_size} wide) hold the mmproj types offered (Q8_0, Q4_K). The second edition's
decoder (hidden 128, intermediate 384) could hold none of them: IQ1_M fell back to Q1_0,
Q4_K and Q2_K to Q4_0, IQ2_XXS to IQ4_NL (a "2-bit" block stored at 4.5 bits).

**llama.cpp.** `convert_hf_to_gguf.py` converts the language model (a SentencePiece
"llama" vocabulary); the tower and projector go llama.cpp's LLaVA route as an
`mmproj` GGUF (projector type `mlp`; `python -m luq export --format gguf` writes both, with a
README of `llama-mtmd-cli` / `llama-server` lines). llama.cpp does not lowercase: send it
lowercase questions.

**Data.** Procedurally generated {v.image_size}x{v.image_size} pictures of 1-3 objects
({len(COLORS)} colours: {", ".join(COLORS)}; {len(SHAPES)} shapes: {", ".join(SHAPES)};
small or large; left / middle / right), with one-word answers (`luq/embedded/`), drawn in
styles sampled per picture: backgrounds of any lightness (light, mid-grey, dark) with a
little tint, noise or a gradient; filled or outlined shapes (lines 1-3 px); sizes spread over
{SIZE_RANGES["small"][0]:g}-{SIZE_RANGES["small"][1]:g}x (small, nominal {SIZES["small"]} px)
and {SIZE_RANGES["large"][0]:g}-{SIZE_RANGES["large"][1]:g}x (large, nominal {SIZES["large"]}
px), ranges that never meet; up to 5.5 px of jitter within a slot; colours shifted by up to
24 per channel; canvases of 64 to 256 px resized to {v.image_size}. One picture in five is in
the first edition's style (light, filled, nominal sizes). Training draws fresh scenes every
step; the test split (its own seed, the same style mix) is never seen.

**Training** (seed {summary["seed"]}, batch {summary["batch"]}, CPU,
{summary["threads"]} threads, {summary["wall_seconds"] / 60:.1f} min wall time on a 2-core
machine): {steps[0]} steps of the vision tower alone predicting each patch's object
attributes (colour, shape, size, position; AdamW {lrs[0]:g}); {steps[1]} steps of projector
+ decoder with the tower frozen (AdamW {lrs[1]:g}, cosine; chats of up to {summary["turns"]}
questions per image, {_percent(summary["caption_share"])} of them ending with a "describe the
image" caption); {steps[2]} joint steps (AdamW {lrs[2]:g}). In both language stages two
attention steps are guided (weight {summary.get("attention_weight", 0):g}): decoder layer 0
from each answer onto the question's naming words, layer 2 onto the image tokens of the
object they name (targets from the renderer's masks). Without that guidance the decoder
plateaued near 73 %: it learned every answer that needs no search for the object. A linear
read-out (weight {summary.get("readout_weight", 0):g}, dropped after training) asks layer 2's
output at each answer for every attribute of that object; without it this 8-pixel-patch model
answered colour questions at chance.

**What it can answer** (exact match, {test["n"]} test questions): overall
{_percent(test["accuracy"])}; {per_type}. Questions: "what color is the <shape> ?", "what
color / shape is the object on the left | in the middle | on the right ?", "what shape is
the <color> object ?", "how many objects are there ?", "where is the <color> <shape> ?",
"what size is the <color> <shape> ?", and "describe the image ." Anything else gets a word
from its {t.vocab_size}-token vocabulary: it is a teaching model for quantization
experiments, not a general VLM.
"""
    path = out / "README.md"
    path.write_text(text)
    return path

"""About tab: what LUQ is, the paper's numbers, how to read the plots."""

from __future__ import annotations

import gradio as gr

from components import measured
from luq.estimate import PAPER_POINTS

ABOUT = """
## What LUQ is
*LUQ: Layerwise Ultra-Low Bit Quantization for Multimodal LLMs* (Bhatnagar, Xu, Tan, Ahuja;
arXiv 2509.23729) measures, for every decoder layer of a vision-language model, the entropy
of its output activations on calibration data (k-means with K = 100 clusters; the Shannon
entropy of the cluster occupancy, in bits). It sorts layers by entropy, lowest first, and
moves them one by one from a 4-bit model to an ultra-low-bit one (BiLLM, 1.08 bits) until a
memory budget is met. Its two findings, which this app lets you **test** rather than assume:

1. image-token activations have higher entropy than text-token ones, and entropy varies
   from layer to layer; low-entropy layers tolerate ultra-low bits better;
2. calibrating with a mix of image and text tokens (ratio alpha) helps at ultra-low bits.

## The paper's numbers
{paper_table}

Uniform GPTQ 2-bit produces gibberish on both. Memory of Qwen2.5-VL-7B in llama.cpp: FP16
14.5 GB, Q4_K_M 4.4 GB, LUQ 3.4 GB. Order ablation (LLaVA, TextVQA, 19 blocks ultra-low):
lowest entropy first keeps about 51, highest first falls to about 28. Calibration mix
(LLaVA LUQ-16, TextVQA): alpha 0 -> 51.8, 0.5 -> 53.4, 0.75 -> 53.6.

## How to read the plots
* **Entropy heatmaps**: one row per decoder layer; left image tokens, right text tokens.
  The LUQ order lists layers from lowest to highest entropy (all tokens).
* **Sensitivity**: each layer alone sent to the ultra-low setting; the bar is the KL
  divergence of the model's next-token distributions from the full model. If the paper's
  hypothesis holds here, the scatter of entropy vs sensitivity rises (positive rho). A quick
  prototype found the opposite on a tiny model, so look before you trust an order.
* **Memory vs accuracy**: each line adds ultra-low layers in one order, right (more memory)
  to left; squares are uniform settings; the star is the plan of the slider. A better order
  stays higher for longer.
* **Memory** counts every stored byte (codes, fp16 scales and zero points, bitmaps) and
  everything kept in fp16; the effective bits of binarization are therefore above the 1.08
  the paper quotes for BiLLM.
"""


def paper_table() -> str:
    """The paper's MME perception figures (``luq.estimate.PAPER_POINTS``) as a table."""
    rows = ["| model | setting | avg bits | MME perception |", "|---|---|---|---|"]
    for p in PAPER_POINTS:
        mme = p["mme_perception"]
        rows += [f"| {p['model']} | FP16 | 16 | {mme['fp16']} |",
                 f"| {p['model']} | AWQ 4-bit | 4 | {mme['awq-4bit']} |",
                 f"| {p['model']} | LUQ, {p['n_low']} of {p['layers']} blocks ultra-low | "
                 f"{p['avg_bits']} | {mme['luq']} |",
                 f"| {p['model']} | BiLLM everywhere | 1.08 | {mme['billm-everywhere']} |"]
    return "\n".join(rows)


def build_about_panel() -> None:
    gr.Markdown(measured.claims_markdown(measured.load("claims"), measured.load("tradeoff")))
    gr.Markdown(ABOUT.replace("{paper_table}", paper_table()))

"""Greedy answers of any image-text-to-text model for a batch of (image, question) pairs."""

from __future__ import annotations

import re

import torch
from PIL import Image

from luq.memlimit import active_limit, answer_chunk
from luq.models.prompting import chat_prompt

_ARTICLES = {"a", "an", "the"}


def normalize_answer(text: str) -> str:
    """Lowercase, punctuation and articles removed, whitespace collapsed (VQA-style)."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(w for w in text.split() if w not in _ARTICLES)


@torch.no_grad()
def answer_batch(model, processor, images: list[Image.Image], questions: list[str],
                 max_new_tokens: int = 4) -> list[str]:
    """Greedy answers, one per (image, question).

    Prompts go through the processor's chat template (``luq.models.prompting``), are
    left-padded together, and decoded without special tokens. Under an active memory limit
    (:mod:`luq.memlimit`) they are answered in sub-batches whose activations fit.
    """
    if len(images) != len(questions):
        raise ValueError("one question per image")
    if active_limit() is None or len(questions) <= 1:
        return _answer(model, processor, images, questions, max_new_tokens)
    spread = range(0, len(questions), max(1, len(questions) // 8))  # pictures differ in tokens
    tokens = max(_prompt_tokens(model, processor, images[i], questions[i]) for i in spread)
    step = answer_chunk(model, len(questions), tokens, max_new_tokens)
    out: list[str] = []
    while len(out) < len(questions):
        i = len(out)
        try:
            out += _answer(model, processor, images[i:i + step], questions[i:i + step],
                           max_new_tokens)
            continue
        except torch.OutOfMemoryError:  # the estimate was short: halve and go on
            if step == 1:
                raise
        torch.cuda.empty_cache()  # after the failed batch's tensors are gone
        step //= 2
    return out


def _prompt_tokens(model, processor, image: Image.Image, question: str) -> int:
    """Positions of one prompt (the image's tokens included), a little over for the longest."""
    enc = processor(images=[image.convert("RGB")], text=[chat_prompt(processor, question, True)],
                    return_tensors="pt")
    return int(enc["input_ids"].shape[1] * 1.25) + 8


def _answer(model, processor, images, questions, max_new_tokens: int) -> list[str]:
    tok = processor.tokenizer
    prompts = [chat_prompt(processor, q, True) for q in questions]
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        enc = processor(images=[im.convert("RGB") for im in images], text=prompts,
                        padding=True, return_tensors="pt")
    finally:
        tok.padding_side = side
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    enc = {k: v.to(device) for k, v in enc.items()}
    if "pixel_values" in enc:
        enc["pixel_values"] = enc["pixel_values"].to(dtype)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    new = out[:, enc["input_ids"].shape[1]:]
    return [t.strip() for t in processor.batch_decode(new, skip_special_tokens=True)]

"""Model inputs for one (image, question) pair, through the processor's chat template.

One function for calibration, profiling, evaluation and the VQA arena, so every path feeds a
model the same way. ``image=None`` gives a text-only prompt (for the calibration mix).
"""

from __future__ import annotations

import torch
from PIL import Image


def chat_prompt(processor, question: str, with_image: bool) -> str:
    """The chat-formatted prompt text, ending where the assistant's answer starts."""
    content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": question}]
    return processor.apply_chat_template([{"role": "user", "content": content}],
                                         add_generation_prompt=True, tokenize=False)


def build_inputs(processor, image: Image.Image | None, question: str) -> dict[str, torch.Tensor]:
    """Tensors for ``model(**inputs)`` / ``model.generate(**inputs)`` with a batch of one."""
    prompt = chat_prompt(processor, question, image is not None)
    if image is None:
        return dict(processor(text=prompt, return_tensors="pt"))
    return dict(processor(images=image.convert("RGB"), text=prompt, return_tensors="pt"))

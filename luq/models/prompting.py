"""Model inputs for one (image, question) pair, through the processor's chat template.

One function for calibration, profiling, evaluation and the VQA arena, so every path feeds a
model the same way. ``image=None`` gives a text-only prompt (for the calibration mix).

Qwen2-VL / Qwen2.5-VL need a stand-in processor here: transformers' own one builds a video
processor that needs torchvision, which cannot be installed beside CPU torch.
:class:`QwenVLProcessor` does the image half of its work (the same image processor, the
same token expansion), so the rest of the code treats Qwen like every other architecture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer, BatchFeature

QWEN_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")


def chat_prompt(processor, question: str, with_image: bool) -> str:
    """The chat-formatted prompt text, ending where the assistant's answer starts."""
    content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": question}]
    return processor.apply_chat_template([{"role": "user", "content": content}],
                                         add_generation_prompt=True, tokenize=False)


def unknown_words(processor, text: str, known: set[str] | None = None) -> list[str]:
    """Words of ``text`` the model does not know, in order.

    With ``known`` (a closed vocabulary, like the embedded model's): every word not in it.
    Otherwise the words the tokenizer maps (in part) to its unknown token; subword
    tokenizers spell any word, so that is usually ``[]``.
    """
    import re

    words = re.findall(r"[\w']+|[^\w\s]", text)
    if known is not None:
        return list(dict.fromkeys(w for w in words if w not in known))
    tokenizer = getattr(processor, "tokenizer", processor)
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return []
    out = []
    for word in words:
        if unk in tokenizer(word, add_special_tokens=False)["input_ids"] and word not in out:
            out.append(word)
    return out


def build_inputs(processor, image: Image.Image | None, question: str) -> dict[str, torch.Tensor]:
    """Tensors for ``model(**inputs)`` / ``model.generate(**inputs)`` with a batch of one."""
    prompt = chat_prompt(processor, question, image is not None)
    if image is None:
        return dict(processor(text=prompt, return_tensors="pt"))
    return dict(processor(images=image.convert("RGB"), text=prompt, return_tensors="pt"))


class QwenVLProcessor:
    """Images + text for Qwen2-VL / Qwen2.5-VL without torchvision.

    Each ``<|image_pad|>`` in the prompt becomes ``prod(image_grid_thw) / merge_size**2``
    copies, one per merged patch the vision tower emits, exactly as
    ``Qwen2_5_VLProcessor`` does for images.

    Args:
        image_processor: a ``Qwen2VLImageProcessor`` (the PIL one works without torchvision).
        tokenizer: the model's tokenizer; its chat template formats conversations.
    """

    image_token = "<|image_pad|>"

    def __init__(self, image_processor, tokenizer) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer

    def apply_chat_template(self, conversation: list[dict], **kwargs):
        """The tokenizer's chat template (which marks images with vision tokens)."""
        return self.tokenizer.apply_chat_template(conversation, **kwargs)

    def __call__(self, images=None, text: str | list[str] | None = None,
                 return_tensors: str | None = None, **kwargs) -> BatchFeature:
        """Tokenized ``text`` (image tokens expanded) plus ``pixel_values``/``image_grid_thw``."""
        texts = [text] if isinstance(text, str) else list(text or [])
        vision: dict[str, torch.Tensor] = {}
        if images is not None:
            vision = dict(self.image_processor(images=images, return_tensors="pt"))
            merge = self.image_processor.merge_size ** 2
            counts = iter((vision["image_grid_thw"].prod(-1) // merge).tolist())
            texts = [self._expand(t, counts) for t in texts]
        encoded = self.tokenizer(texts, return_tensors=return_tensors, **kwargs)
        return BatchFeature({**encoded, **vision}, tensor_type=return_tensors)

    def _expand(self, text: str, counts: Iterator[int]) -> str:
        parts = text.split(self.image_token)
        out = parts[0]
        for part in parts[1:]:
            try:
                out += self.image_token * next(counts) + part
            except StopIteration:
                raise ValueError("the prompt has more image tokens than images") from None
        return out

    def batch_decode(self, *args, **kwargs) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    def save_pretrained(self, folder: str | Path) -> None:
        """Writes the image processor and tokenizer (with its chat template) to ``folder``."""
        self.image_processor.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    @classmethod
    def from_pretrained(cls, source: str | Path, **kwargs) -> QwenVLProcessor:
        """Reads the image processor and tokenizer of a folder or hub id."""
        return cls(AutoImageProcessor.from_pretrained(source, **kwargs),
                   AutoTokenizer.from_pretrained(source, **kwargs))


def load_processor(source: str | Path, model_type: str, trust_remote_code: bool = False):
    """``AutoProcessor`` for ``source``; for Qwen-VL models, :class:`QwenVLProcessor` instead.

    Args:
        source: a ``save_pretrained`` folder or a hub id.
        model_type: ``config.model_type`` of the model the processor feeds.
        trust_remote_code: only for checkpoints you trust.
    """
    if model_type in QWEN_MODEL_TYPES:
        return QwenVLProcessor.from_pretrained(source, trust_remote_code=trust_remote_code)
    return AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code)

"""Training batches for the embedded model, drawn fresh from the scene generator.

Two kinds: *vision* batches (pixels plus dense per-patch attribute labels from the renderer's
object mask) for the vision tower's own stage, and *VQA* batches (chat-formatted prompt and
answer tokens, loss on the answer only) for the language stages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from luq.data.render import COLORS, POSITIONS, SHAPES, SIZES, Obj, random_scene, render_with_mask
from luq.data.shapes import QUESTION_TYPES, ask, describe
from luq.models.embedded import IMAGE_TOKEN, IMAGE_TOKENS
from luq.models.prompting import chat_prompt

# Per-patch label heads: class 0 is "no object", then the attribute values in order.
ATTRIBUTES = {"color": tuple(COLORS), "shape": SHAPES, "size": tuple(SIZES),
              "position": POSITIONS}
HEAD_SIZES = tuple(len(values) + 1 for values in ATTRIBUTES.values())


def pixels(images: list[Image.Image], processor) -> torch.Tensor:
    """CLIP-normalised ``(B, 3, H, W)`` tensor, the same as the image processor gives."""
    ip = processor.image_processor
    arr = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])  # (B, H, W, 3)
    arr = (arr - np.array(ip.image_mean, dtype=np.float32)) / np.array(ip.image_std,
                                                                       dtype=np.float32)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def _attribute_ids(obj: Obj) -> list[int]:
    return [values.index(getattr(obj, name)) + 1 for name, values in ATTRIBUTES.items()]


def patch_labels(scene: tuple[Obj, ...], mask: Image.Image, patch: int) -> torch.Tensor:
    """Dense labels of one image, ``(grid * grid, 2, 4)`` class ids (0 = no object).

    ``[:, 0]`` labels each patch with the attributes (colour, shape, size, position) of the
    object covering most of it (at least 1/8 of its pixels); ``[:, 1]`` only the patch that
    holds the object's centre, so the tower learns to gather a whole object in one place.
    """
    m = np.asarray(mask)  # (H, W), 1 + object index, 0 = background
    grid = m.shape[0] // patch
    cells = m.reshape(grid, patch, grid, patch).transpose(0, 2, 1, 3).reshape(grid * grid, -1)
    labels = torch.zeros(grid * grid, 2, len(ATTRIBUTES), dtype=torch.long)
    for p, cell in enumerate(cells):
        counts = np.bincount(cell, minlength=len(scene) + 1)[1:]
        if counts.max() * 8 >= cell.size:
            labels[p, 0] = torch.tensor(_attribute_ids(scene[int(counts.argmax())]))
    for index, obj in enumerate(scene):
        ys, xs = np.nonzero(m == index + 1)
        cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
        labels[int(cy // patch) * grid + int(cx // patch), 1] = torch.tensor(_attribute_ids(obj))
    return labels


def vision_batch(rng: random.Random, processor, size: int,
                 patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` fresh scenes: pixels ``(B, 3, H, W)`` and labels ``(B, P, 2, 4)``."""
    scenes = [random_scene(rng) for _ in range(size)]
    drawn = [render_with_mask(s, rng) for s in scenes]
    labels = torch.stack([patch_labels(s, mask, patch) for s, (_, mask) in zip(scenes, drawn)])
    return pixels([image for image, _ in drawn], processor), labels


@dataclass(frozen=True)
class VqaBatch:
    """Model inputs (``input_ids``, ``attention_mask``, ``pixel_values``) and answer labels."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor  # (B, T), -100 except on the answer words and <eos>


def vqa_batch(rng: random.Random, processor, size: int, caption_share: float) -> VqaBatch:
    """``size`` fresh (image, question, answer) examples; a share asks for a caption instead."""
    images, texts, answer_lengths = [], [], []
    for _ in range(size):
        scene = random_scene(rng)
        image, _ = render_with_mask(scene, rng)
        if rng.random() < caption_share:
            question, answer = "describe the image .", describe(scene)
        else:
            question, answer = ask(scene, rng.choice(QUESTION_TYPES), rng)
        images.append(image)
        texts.append(f"{chat_prompt(processor, question, True)} {answer} <eos>")
        answer_lengths.append(len(answer.split()) + 1)
    # The processor's own expansion of <image>, without its (slower) image pipeline.
    expanded = [t.replace(IMAGE_TOKEN, IMAGE_TOKEN * IMAGE_TOKENS) for t in texts]
    tok = processor.tokenizer
    side, tok.padding_side = tok.padding_side, "right"
    try:
        enc = tok(expanded, padding=True, return_tensors="pt")
    finally:
        tok.padding_side = side
    labels = torch.full_like(enc["input_ids"], -100)
    for i, (length, k) in enumerate(zip(enc["attention_mask"].sum(1).tolist(), answer_lengths)):
        labels[i, length - k:length] = enc["input_ids"][i, length - k:length]
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
              "pixel_values": pixels(images, processor)}
    return VqaBatch(inputs, labels)

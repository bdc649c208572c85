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

from luq.embedded.model import IMAGE_TOKEN, IMAGE_TOKENS, PATCH_SIZE, word_id
from luq.embedded.render import (
    COLORS,
    POSITIONS,
    SHAPES,
    SIZES,
    Obj,
    random_scene,
    render_with_mask,
)
from luq.embedded.shapes import QUESTION_TYPES, ask, describe

# Per-patch label heads: class 0 is "no object", then the attribute values in order.
ATTRIBUTES = {"color": tuple(COLORS), "shape": SHAPES, "size": tuple(SIZES),
              "position": POSITIONS}
HEAD_SIZES = tuple(len(values) + 1 for values in ATTRIBUTES.values())


def pixels(images: list[Image.Image], processor) -> torch.Tensor:
    """Normalised ``(B, 3, H, W)`` tensor, the same as the image processor gives."""
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
    labels: torch.Tensor  # (B, T), -100 except on the answer words and their <eos>
    # (B, turns, P): for each turn's answer, where the object it is about lies among the
    # image tokens (a distribution; all zero for count questions, captions and absent turns)
    referents: torch.Tensor | None = None
    # (B, turns, 4): that object's attribute ids (colour, shape, size, position; 0 = none)
    referent_attributes: torch.Tensor | None = None


def referent(scene: tuple[Obj, ...], question: str) -> int | None:
    """Index of the object a question is about (named by colour, shape or slot), if one."""
    words = set(question.split())
    for attribute in ("color", "shape", "position"):
        hits = [i for i, obj in enumerate(scene) if getattr(obj, attribute) in words]
        if len(hits) == 1:
            return hits[0]
    return None


def patch_shares(mask: Image.Image, index: int, patch: int) -> torch.Tensor:
    """``(P,)`` share of object ``index``'s pixels in each patch (sums to 1)."""
    m = np.asarray(mask) == index + 1
    grid = m.shape[0] // patch
    counts = m.reshape(grid, patch, grid, patch).sum(axis=(1, 3)).reshape(-1)
    return torch.from_numpy(counts / counts.sum()).float()


def conversation(rng: random.Random, scene: tuple[Obj, ...], turns: int,
                 caption_share: float) -> list[dict]:
    """A chat about one image: up to ``turns`` distinct questions, each answered.

    With probability ``caption_share`` a last turn asks for a caption (last, so that no
    question can be answered by copying it). Several answers per image give several
    supervised tokens for one image's worth of compute; the first turn has exactly the
    single-question format used at test time.
    """
    pairs: dict[str, str] = {}
    for _ in range(3 * turns):  # distinct questions; small scenes have few
        question, answer = ask(scene, rng.choice(QUESTION_TYPES), rng)
        pairs.setdefault(question, answer)
        if len(pairs) == turns:
            break
    if rng.random() < caption_share:
        pairs["describe the image ."] = describe(scene)
    messages = []
    for turn, (question, answer) in enumerate(pairs.items()):
        image = [{"type": "image"}] if turn == 0 else []
        messages += [{"role": "user", "content": [*image, {"type": "text", "text": question}]},
                     {"role": "assistant", "content": [{"type": "text", "text": answer}]}]
    return messages


def answer_labels(ids: torch.Tensor, assistant_id: int, colon_id: int,
                  eos_id: int) -> torch.Tensor:
    """``ids`` where the assistant speaks (after ``assistant :``, up to ``<eos>``), else -100."""
    labels = torch.full_like(ids, -100)
    for row, seq in enumerate(ids.tolist()):
        speaking = False
        for i, token in enumerate(seq):
            if speaking:
                labels[row, i] = token
                speaking = token != eos_id
            elif i and token == colon_id and seq[i - 1] == assistant_id:
                speaking = True
    return labels


def vqa_batch(rng: random.Random, processor, size: int, turns: int = 1,
              caption_share: float = 0.25) -> VqaBatch:
    """``size`` fresh images, each with a :func:`conversation` of ``turns`` questions."""
    images, texts = [], []
    referents = torch.zeros(size, turns + 1, IMAGE_TOKENS)
    attributes = torch.zeros(size, turns + 1, len(ATTRIBUTES), dtype=torch.long)
    for row in range(size):
        scene = random_scene(rng)
        image, mask = render_with_mask(scene, rng)
        images.append(image)
        chat = conversation(rng, scene, turns, caption_share)
        texts.append(processor.apply_chat_template(chat, tokenize=False).strip())
        questions = [m["content"][-1]["text"] for m in chat if m["role"] == "user"]
        for turn, question in enumerate(questions):
            index = referent(scene, question)
            if index is not None:
                referents[row, turn] = patch_shares(mask, index, PATCH_SIZE)
                attributes[row, turn] = torch.tensor(_attribute_ids(scene[index]))
    # The processor's own expansion of <image>, without its (slower) image pipeline.
    expanded = [t.replace(IMAGE_TOKEN, IMAGE_TOKEN * IMAGE_TOKENS) for t in texts]
    tok = processor.tokenizer
    side, tok.padding_side = tok.padding_side, "right"
    try:
        enc = tok(expanded, padding=True, return_tensors="pt")
    finally:
        tok.padding_side = side
    labels = answer_labels(enc["input_ids"], word_id(tok, "assistant"), word_id(tok, ":"),
                           tok.eos_token_id)
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
              "pixel_values": pixels(images, processor)}
    return VqaBatch(inputs, labels, referents, attributes)

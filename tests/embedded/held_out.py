"""Held-out drawing styles for the embedded model, drawn here, not by ``luq.embedded.render``.

The model learned from the project's renderer; these pictures come from this file's own
PIL code, in fixed styles and with seeds the training never used (training draws from
``random.Random(0)``; the splits use seeds 1-3): dark and mid-grey backgrounds, outlined
shapes, objects 0.7-1.3x their nominal size, +-4 px of horizontal jitter, and scenes drawn on
a 256-pixel canvas that the processor resizes. The questions are the project's (the same
templates a user is shown), asked about these pictures.
"""

from __future__ import annotations

import random

from datasets import Dataset
from PIL import Image, ImageDraw

from luq.embedded.render import COLORS, POSITIONS, SIZES, random_scene
from luq.embedded.shapes import FEATURES, QUESTION_TYPES, ask

SIDE = 64
# name -> (background, outline width, (low, high) size factor, jitter px, canvas px)
STYLES = {
    "dark background": ((24, 24, 30), 0, (1.0, 1.0), 1.0, SIDE),
    "mid-grey background": ((128, 128, 128), 0, (1.0, 1.0), 1.0, SIDE),
    "outlined shapes": ((250, 250, 250), 2, (1.0, 1.0), 1.0, SIDE),
    "sizes 0.7-1.3x": ((245, 245, 240), 0, (0.7, 1.3), 1.0, SIDE),
    "jitter +-4 px": ((245, 245, 240), 0, (1.0, 1.0), 4.0, SIDE),
    "256 px canvas": ((240, 240, 240), 0, (1.0, 1.0), 1.0, 256),
}
SEEDS = {name: 9001 + i for i, name in enumerate(STYLES)}


def draw(scene, style: str, rng: random.Random) -> Image.Image:
    """One scene in a held-out style (objects never overlap: pushed apart left to right)."""
    background, width, (low, high), jitter, canvas = STYLES[style]
    k = canvas / SIDE
    img = Image.new("RGB", (canvas, canvas), background)
    d = ImageDraw.Draw(img)
    slot = SIDE / len(POSITIONS)
    right_edge = 0.0
    for obj in scene:
        side = SIZES[obj.size] * rng.uniform(low, high)
        cx = slot * POSITIONS.index(obj.position) + slot / 2 + rng.uniform(-jitter, jitter)
        cx = max(cx, right_edge + side / 2 + 1, side / 2 + 1)
        cx = min(cx, SIDE - side / 2 - 1)
        right_edge = cx + side / 2
        cy = rng.uniform(side / 2 + 2, SIDE - side / 2 - 2)
        x0, y0, x1, y1 = [v * k for v in (cx - side / 2, cy - side / 2, cx + side / 2,
                                          cy + side / 2)]
        c, h, t = cx * k, cy * k, side * k / 6
        style_kw = {"outline": COLORS[obj.color], "width": round(width * k)} if width else \
            {"fill": COLORS[obj.color]}
        if obj.shape == "circle":
            d.ellipse((x0, y0, x1, y1), **style_kw)
        elif obj.shape == "square":
            d.rectangle((x0, y0, x1, y1), **style_kw)
        elif obj.shape == "triangle":
            d.polygon([(c, y0), (x1, y1), (x0, y1)], **style_kw)
        else:
            d.polygon([(c - t, y0), (c + t, y0), (c + t, h - t), (x1, h - t), (x1, h + t),
                       (c + t, h + t), (c + t, y1), (c - t, y1), (c - t, h + t), (x0, h + t),
                       (x0, h - t), (c - t, h - t)], **style_kw)
    return img


def style_split(style: str, n: int = 150) -> Dataset:
    """``n`` questions (the five kinds in turn) about fresh scenes drawn in ``style``."""
    rng = random.Random(SEEDS[style])
    rows = []
    for i in range(n):
        scene = random_scene(rng)
        qtype = QUESTION_TYPES[i % len(QUESTION_TYPES)]
        question, answer = ask(scene, qtype, rng)
        rows.append({"image": draw(scene, style, rng), "question": question,
                     "answer": answer, "question_type": qtype})
    return Dataset.from_list(rows, features=FEATURES)

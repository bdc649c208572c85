"""Questions and one-word answers about scenes of coloured shapes, as ``datasets.Dataset``.

Every question is unambiguous for its image: objects in a scene have distinct colours,
distinct shapes and distinct slots. Question types: ``color``, ``shape``, ``count``,
``position``, ``size``. Splits are fixed by seed and disjoint (different seeds per split).
"""

from __future__ import annotations

import random
from functools import lru_cache

from datasets import Dataset, Features, Image, Value

from luq.embedded.render import COLORS, POSITIONS, SHAPES, SIZES, Obj, random_scene, render

QUESTION_TYPES = ("color", "shape", "count", "position", "size")
COUNT_WORDS = ("zero", "one", "two", "three")
ANSWERS = (*COLORS, *SHAPES, *COUNT_WORDS[1:], *POSITIONS, *SIZES)
SPLITS = {"train": (1, 20000), "calibration": (2, 512), "test": (3, 1000)}
FEATURES = Features({"image": Image(), "question": Value("string"), "answer": Value("string"),
                     "question_type": Value("string")})


def _where(obj: Obj) -> str:
    return "in the middle" if obj.position == "middle" else f"on the {obj.position}"


def ask(scene: tuple[Obj, ...], qtype: str, rng: random.Random) -> tuple[str, str]:
    """A (question, answer) pair of type ``qtype`` about ``scene``."""
    obj = rng.choice(scene)
    if qtype == "color":
        if rng.random() < 0.5:
            return f"what color is the {obj.shape} ?", obj.color
        return f"what color is the object {_where(obj)} ?", obj.color
    if qtype == "shape":
        if rng.random() < 0.5:
            return f"what shape is the {obj.color} object ?", obj.shape
        return f"what shape is the object {_where(obj)} ?", obj.shape
    if qtype == "count":
        return "how many objects are there ?", COUNT_WORDS[len(scene)]
    if qtype == "position":
        return f"where is the {obj.color} {obj.shape} ?", obj.position
    if qtype == "size":
        return f"what size is the {obj.color} {obj.shape} ?", obj.size
    raise ValueError(f"unknown question type {qtype!r}; known: {', '.join(QUESTION_TYPES)}")


def describe(scene: tuple[Obj, ...]) -> str:
    """A caption listing every object left to right (an auxiliary training target)."""
    return " , ".join(f"{o.size} {o.color} {o.shape} {o.position}" for o in scene)


def generate(seed: int, n: int) -> list[dict]:
    """``n`` rows (PIL image, question, answer, question type), deterministic by seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        scene = random_scene(rng)
        qtype = QUESTION_TYPES[i % len(QUESTION_TYPES)]
        question, answer = ask(scene, qtype, rng)
        rows.append({"image": render(scene, rng), "question": question, "answer": answer,
                     "question_type": qtype, "scene": scene})
    return rows


@lru_cache(maxsize=8)
def load_split(split: str, n: int | None = None) -> Dataset:
    """A fixed split as a ``datasets.Dataset``: ``train``, ``calibration`` or ``test``.

    Args:
        split: which split.
        n: the first ``n`` rows only (the same rows as the full split's first ``n``).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    seed, size = SPLITS[split]
    rows = generate(seed, min(n, size) if n else size)
    for row in rows:
        row.pop("scene")
    return Dataset.from_list(rows, features=FEATURES)


def text_prompts() -> list[str]:
    """Text-only prompts for the calibration mix: the question templates without images."""
    prompts = ["how many objects are there ?"]
    for color in COLORS:
        prompts.append(f"what shape is the {color} object ?")
        for shape in SHAPES:
            prompts += [f"where is the {color} {shape} ?", f"what size is the {color} {shape} ?"]
    for shape in SHAPES:
        prompts.append(f"what color is the {shape} ?")
    for where in ("on the left", "in the middle", "on the right"):
        prompts += [f"what color is the object {where} ?", f"what shape is the object {where} ?"]
    prompts.append("describe the image .")
    return prompts

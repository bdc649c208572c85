"""Scenes of coloured shapes: random layouts and their rendering to PIL images."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

IMAGE_SIZE = 64
BACKGROUND = (245, 245, 240)
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (235, 205, 30),
    "purple": (150, 60, 190),
    "orange": (245, 135, 25),
}
SHAPES = ("circle", "square", "triangle", "cross")
SIZES = {"small": 11, "large": 19}  # bounding-box side in pixels; slots are 21 px wide
POSITIONS = ("left", "middle", "right")  # three horizontal slots


@dataclass(frozen=True)
class Obj:
    """One object: attributes and its slot."""

    color: str
    shape: str
    size: str
    position: str


def random_scene(rng: random.Random) -> tuple[Obj, ...]:
    """1-3 objects in distinct slots, each colour and each shape used at most once."""
    n = rng.randint(1, 3)
    colors = rng.sample(list(COLORS), n)
    shapes = rng.sample(SHAPES, n)
    slots = sorted(rng.sample(POSITIONS, n), key=POSITIONS.index)
    return tuple(Obj(c, s, rng.choice(list(SIZES)), p) for c, s, p in zip(colors, shapes, slots))


def render(scene: tuple[Obj, ...], rng: random.Random) -> Image.Image:
    """Draws a scene; vertical placement and a small horizontal jitter are random."""
    return render_with_mask(scene, rng)[0]


def render_with_mask(scene: tuple[Obj, ...], rng: random.Random) -> tuple[Image.Image, Image.Image]:
    """The scene and an ``L`` mask whose pixel value is 1 + the index of the object drawn there."""
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    mask = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    draws = [(ImageDraw.Draw(img), None), (ImageDraw.Draw(mask), 0)]
    slot = IMAGE_SIZE / len(POSITIONS)
    for index, obj in enumerate(scene):
        side = SIZES[obj.size]
        cx = slot * POSITIONS.index(obj.position) + slot / 2 + rng.uniform(-1.0, 1.0)
        cy = rng.uniform(side / 2 + 3, IMAGE_SIZE - side / 2 - 3)
        x0, y0, x1, y1 = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
        for draw, is_mask in draws:
            fill = index + 1 if is_mask is not None else COLORS[obj.color]
            if obj.shape == "circle":
                draw.ellipse((x0, y0, x1, y1), fill=fill)
            elif obj.shape == "square":
                draw.rectangle((x0, y0, x1, y1), fill=fill)
            elif obj.shape == "triangle":
                draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
            else:  # cross
                t = side / 3
                draw.rectangle((cx - t / 2, y0, cx + t / 2, y1), fill=fill)
                draw.rectangle((x0, cy - t / 2, x1, cy + t / 2), fill=fill)
    return img, mask

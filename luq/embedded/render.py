"""Scenes of coloured shapes: random layouts and their rendering to PIL images.

A scene fixes what is asked about (colour, shape, size class, slot of each object); a
:class:`Style` fixes how it is drawn. Training and the project's splits draw every image in a
style sampled by :func:`random_style`: backgrounds of any lightness with a little tint, noise
or a gradient; filled or outlined shapes; object sizes spread over a range per size class;
positions jittered within their slot; colours varied around each named hue; canvases larger
than the model's input, drawn there and resized. So a drawing made in a paint program (dark
canvas, outlines, slightly off-centre) is in the distribution the model learns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
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
# Nominal bounding-box side in pixels of the 64-pixel image; slots are 21 px wide. A class is
# drawn at SIZE_RANGES times its nominal side: the ranges never meet (small <= 11.7 px,
# large >= 11.9 px), so "small" and "large" stay answerable for one object alone.
SIZES = {"small": 9, "large": 17}
SIZE_RANGES = {"small": (0.66, 1.3), "large": (0.7, 1.35)}
POSITIONS = ("left", "middle", "right")  # three horizontal slots
SLOT = IMAGE_SIZE / len(POSITIONS)


@dataclass(frozen=True)
class Obj:
    """One object: attributes and its slot."""

    color: str
    shape: str
    size: str
    position: str


@dataclass(frozen=True)
class Style:
    """How a scene is drawn.

    Attributes:
        background: RGB of the canvas.
        noise: standard deviation of per-pixel Gaussian noise added to the whole image.
        gradient: the background darkens or lightens by up to this much across the canvas.
        outline: line width in pixels of the 64-pixel image, at most a fifth of the
            object's side (so a small outlined shape keeps a hole); 0 draws filled shapes.
        scale: (low, high) factor range of each object's side, times its nominal size;
            ``None`` uses :data:`SIZE_RANGES` of its class.
        jitter: largest horizontal offset in pixels of an object from its slot's centre.
        color_shift: largest change of each RGB channel of an object's colour.
        canvas: side in pixels the scene is drawn at, then resized to ``IMAGE_SIZE``.
    """

    background: tuple[int, int, int] = BACKGROUND
    noise: float = 0.0
    gradient: float = 0.0
    outline: float = 0.0
    scale: tuple[float, float] | None = (1.0, 1.0)
    jitter: float = 1.0
    color_shift: int = 0
    canvas: int = IMAGE_SIZE


CLASSIC = Style()  # the first edition's only style: light, filled, nominal sizes


def random_style(rng: random.Random) -> Style:
    """A style from the training distribution (one in five is the classic style)."""
    if rng.random() < 0.2:
        return CLASSIC
    lightness = rng.choice((rng.uniform(170, 255), rng.uniform(0, 80), rng.uniform(80, 170)))
    tint = rng.uniform(0, 14)
    background = tuple(int(np.clip(lightness + rng.uniform(-tint, tint), 0, 255))
                       for _ in range(3))
    return Style(background=background,
                 noise=rng.choice((0.0, rng.uniform(0, 12))),
                 gradient=rng.choice((0.0, rng.uniform(0, 40))),
                 outline=rng.uniform(1.0, 3.0) if rng.random() < 0.35 else 0.0,
                 scale=None, jitter=rng.uniform(1.0, 5.5), color_shift=rng.randint(0, 24),
                 canvas=rng.choice((IMAGE_SIZE, IMAGE_SIZE, 96, 128, 200, 256)))


def random_scene(rng: random.Random) -> tuple[Obj, ...]:
    """1-3 objects in distinct slots, each colour and each shape used at most once."""
    n = rng.randint(1, 3)
    colors = rng.sample(list(COLORS), n)
    shapes = rng.sample(SHAPES, n)
    slots = sorted(rng.sample(POSITIONS, n), key=POSITIONS.index)
    return tuple(Obj(c, s, rng.choice(list(SIZES)), p) for c, s, p in zip(colors, shapes, slots))


def render(scene: tuple[Obj, ...], rng: random.Random, style: Style | None = None) -> Image.Image:
    """Draws a scene in ``style`` (a :func:`random_style` when ``None``)."""
    return render_with_mask(scene, rng, style)[0]


def _boxes(scene: tuple[Obj, ...], rng: random.Random,
           style: Style) -> list[tuple[float, float, float]]:
    """(centre x, centre y, side) of each object, left to right.

    Objects keep a pixel of background between them; only when three of the largest do not
    fit side by side is the group shifted left and the last object clipped by the edge.
    """
    boxes: list[tuple[float, float, float]] = []
    for obj in scene:
        low, high = style.scale or SIZE_RANGES[obj.size]
        side = SIZES[obj.size] * rng.uniform(low, high)
        cx = SLOT * POSITIONS.index(obj.position) + SLOT / 2 + rng.uniform(-style.jitter,
                                                                           style.jitter)
        cx = min(max(cx, side / 2 + 1), IMAGE_SIZE - side / 2 - 1)
        if boxes:  # keep a pixel of background to the previous object
            px, _, pside = boxes[-1]
            cx = max(cx, px + (pside + side) / 2 + 1)
        cy = rng.uniform(side / 2 + 2, IMAGE_SIZE - side / 2 - 2)
        boxes.append((cx, cy, side))
    cx, _, side = boxes[-1]
    excess = cx + side / 2 + 1 - IMAGE_SIZE
    if excess > 0:  # shift the group left, no further than the first object's edge allows
        shift = min(excess, boxes[0][0] - boxes[0][2] / 2)
        boxes = [(x - shift, y, s) for x, y, s in boxes]
    return boxes


def _draw(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, side: float, fill,
          width: int) -> None:
    """One shape, filled (``width`` 0) or outlined with lines ``width`` pixels wide."""
    x0, y0, x1, y1 = cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2
    kw = {"outline": fill, "width": width} if width else {"fill": fill}
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), **kw)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), **kw)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], **kw)
    else:  # cross: one twelve-sided outline, arms a third of the side wide
        t = side / 6
        draw.polygon([(cx - t, y0), (cx + t, y0), (cx + t, cy - t), (x1, cy - t), (x1, cy + t),
                      (cx + t, cy + t), (cx + t, y1), (cx - t, y1), (cx - t, cy + t),
                      (x0, cy + t), (x0, cy - t), (cx - t, cy - t)], **kw)


def render_with_mask(scene: tuple[Obj, ...], rng: random.Random,
                     style: Style | None = None) -> tuple[Image.Image, Image.Image]:
    """The scene (``IMAGE_SIZE`` square) and an ``L`` mask of the same size whose pixel value
    is 1 + the index of the object whose area (filled or not) covers it, 0 elsewhere."""
    style = style or random_style(rng)
    k = style.canvas / IMAGE_SIZE
    img = Image.new("RGB", (style.canvas, style.canvas), style.background)
    mask = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    draw, mask_draw = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    for index, (obj, (cx, cy, side)) in enumerate(zip(scene, _boxes(scene, rng, style))):
        width = max(1, round(min(style.outline, side / 5) * k)) if style.outline else 0
        color = tuple(int(np.clip(c + rng.randint(-style.color_shift, style.color_shift), 0,
                                  255)) for c in COLORS[obj.color])
        _draw(draw, obj.shape, cx * k, cy * k, side * k, color, width)
        _draw(mask_draw, obj.shape, cx, cy, side, index + 1, 0)
    if style.canvas != IMAGE_SIZE:
        img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
    if style.noise or style.gradient:
        arr = np.asarray(img, dtype=np.float32)
        if style.gradient:
            ramp = np.linspace(-1, 1, IMAGE_SIZE, dtype=np.float32)
            direction = rng.choice((ramp[None, :], ramp[:, None]))
            arr = arr + style.gradient * rng.choice((-1, 1)) * direction[..., None] / 2
        if style.noise:
            arr = arr + np.random.default_rng(rng.getrandbits(32)).normal(
                0, style.noise, arr.shape).astype(np.float32)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return img, mask

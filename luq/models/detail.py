"""Image detail: how many image tokens one picture may cost, the model's own way or one tile.

A picture's cost is its image tokens: every one runs through every decoder block. Some
processors spend many: SmolVLM's upscales the longest edge to 2048 pixels and splits it into
512-pixel tiles plus a global one (a 64-pixel picture becomes 17 tiles, 1088 tokens: 21 s per
answer on a 2-core CPU); Qwen2.5-VL's keeps up to 12.8 M pixels (16384 tokens). ``one-tile``
caps a picture at one tile at the tower's base resolution (SmolVLM: one 512-pixel tile, 64
tokens) or, for processors that resize freely, at :data:`ONE_TILE_PIXELS`; processors with a
fixed resolution (LLaVA's 336 pixels, the embedded model's 64) are the same either way.

The CPU default is ``one-tile`` (:func:`default_detail`); ``model`` is one setting away. The
settings a processor ends up with (:func:`image_settings`) are part of every cache key of
what was computed through it (profiles, probes).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from contextlib import contextmanager
from dataclasses import is_dataclass

import torch
from PIL import Image

IMAGE_DETAILS = ("model", "one-tile")
ONE_TILE_PIXELS = 448 * 448  # Qwen-VL: at most 256 merged image tokens per picture
_OWN: dict[int, dict] = {}  # id(image processor) -> its own settings, while it lives
_KEYS = ("do_image_splitting", "size", "max_image_size", "crop_size", "min_pixels",
         "max_pixels", "patch_size", "merge_size", "image_seq_len")


def _mapping(value) -> dict | None:
    """A plain dict of a size setting (a dict, or transformers' ``SizeDict``), else None."""
    return dict(value) if isinstance(value, dict) or is_dataclass(value) else None


def _copy(value):
    """A copy of a size setting of the same type (a dict or a ``SizeDict``)."""
    mapping = _mapping(value)
    return type(value)(**mapping) if mapping is not None else value


def _with(value, **changes):
    return type(value)(**{**_mapping(value), **changes})


def default_detail(device: torch.device | str) -> str:
    """``one-tile`` on the CPU (a picture's tokens are what an answer costs there), else
    ``model``."""
    return "one-tile" if torch.device(device).type == "cpu" else "model"


def set_image_detail(processor, detail: str) -> None:
    """Puts ``processor`` at ``detail`` (in place). ``model`` restores the settings it had
    when first changed here; ``one-tile`` caps splitting and resolution as the module says."""
    if detail not in IMAGE_DETAILS:
        raise ValueError(f"image detail must be one of {', '.join(IMAGE_DETAILS)}, "
                         f"got {detail!r}")
    image = getattr(processor, "image_processor", None)
    if image is None:
        return
    if id(image) not in _OWN:  # kept beside the object: nothing extra is ever serialised
        _OWN[id(image)] = {k: _copy(getattr(image, k)) for k in ("do_image_splitting", "size")
                           if hasattr(image, k)}
        weakref.finalize(image, _OWN.pop, id(image), None)
    for key, value in _OWN[id(image)].items():  # back to the model's own first
        setattr(image, key, _copy(value))
    if detail == "model":
        return
    if getattr(image, "do_image_splitting", None):  # Idefics3 / SmolVLM: one tile
        image.do_image_splitting = False
        tile = (_mapping(getattr(image, "max_image_size", None)) or {}).get("longest_edge")
        if tile:
            image.size = _with(image.size, longest_edge=tile)
    size = _mapping(getattr(image, "size", None)) or {}
    if "shortest_edge" in size and "longest_edge" in size \
            and hasattr(image, "merge_size"):  # Qwen-VL: size holds min/max pixels
        image.size = _with(image.size, longest_edge=min(size["longest_edge"], ONE_TILE_PIXELS))


@contextmanager
def own_settings(processor):
    """The processor at the model's own settings inside the block (what an export writes),
    at the settings it had after it."""
    image = getattr(processor, "image_processor", None)
    saved = {k: _copy(getattr(image, k)) for k in ("do_image_splitting", "size")
             if image is not None and hasattr(image, k)}
    if image is not None and id(image) in _OWN:
        set_image_detail(processor, "model")
    try:
        yield processor
    finally:
        for key, value in saved.items():
            setattr(image, key, value)


def image_settings(processor) -> dict:
    """The processor's settings that decide a picture's tokens (JSON-able), for cache keys."""
    image = getattr(processor, "image_processor", None)
    out = {"class": type(image).__name__} if image is not None else {}
    for key in _KEYS:
        for owner in (image, processor):
            value = getattr(owner, key, None) if owner is not None else None
            if value is not None and key not in out:
                mapping = _mapping(value)
                out[key] = mapping if mapping is not None else value
    return json.loads(json.dumps(out, default=str))


def settings_key(processor) -> str:
    """A short hash of :func:`image_settings`."""
    data = json.dumps(image_settings(processor), sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:12]


def image_tokens(processor, image_token_id: int, picture: Image.Image | None = None) -> int:
    """Image tokens one picture costs through ``processor`` (default: a 64-pixel picture,
    the size of the shapes data)."""
    from luq.models.prompting import build_inputs

    picture = picture or Image.new("RGB", (64, 64), (128, 128, 128))
    ids = build_inputs(processor, picture, "what is this ?")["input_ids"]
    return int((ids == image_token_id).sum())

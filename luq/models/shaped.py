"""Random-weight models at a real checkpoint's exact shape, built offline from its shipped config.

Time and memory depend on shapes, not on weights: a model built from the shipped copy of a
checkpoint's config (``assets/configs``) with random weights, the checkpoint's own image
processor settings (so a picture costs the image tokens it costs there) and the tiny
word-level tokenizer (its image token's id written into the config) runs every step of the
explorer exactly as the checkpoint would, and measures what that costs, with nothing
downloaded. Its answers mean nothing.

``image_detail`` says how many image tokens a picture may cost: ``"model"`` is the
checkpoint's own processor (SmolVLM: a picture upscaled to 2048 pixels and split into 512-pixel
tiles plus a global one); ``"one-tile"`` caps it at one tile (:mod:`luq.models.detail`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    CLIPImageProcessorPil,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    LlavaProcessor,
    Qwen2VLImageProcessorPil,
)

from luq.models.adapters import adapter_for
from luq.models.detail import set_image_detail
from luq.models.loading import LoadedModel
from luq.models.prompting import QwenVLProcessor
from luq.models.registry import ASSETS
from luq.models.tiny import (
    _IDEFICS_SPECIAL,
    _IDEFICS_TEMPLATE,
    _LLAVA_SPECIAL,
    _LLAVA_TEMPLATE,
    _QWEN_SPECIAL,
    _QWEN_TEMPLATE,
    TINY_IMAGE_TOKEN,
    tiny_tokenizer,
)

CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


@dataclass(frozen=True)
class Shaped:
    """A shipped config: its file and the hub checkpoint it copies."""

    name: str
    config_file: str
    hub_id: str


SHAPED = {s.name: s for s in (
    Shaped("smolvlm-256m", "smolvlm-256m-instruct.json", "HuggingFaceTB/SmolVLM-256M-Instruct"),
    Shaped("qwen2.5-vl-3b", "qwen2.5-vl-3b-instruct.json", "Qwen/Qwen2.5-VL-3B-Instruct"),
    Shaped("llava-1.5-7b", "llava-1.5-7b-hf.json", "llava-hf/llava-1.5-7b-hf"),
    Shaped("qwen2.5-vl-7b", "qwen2.5-vl-7b-instruct.json", "Qwen/Qwen2.5-VL-7B-Instruct"),
)}


def _entry(name: str) -> Shaped:
    try:
        return SHAPED[name]
    except KeyError:
        raise ValueError(f"unknown shipped config {name!r}; known: {', '.join(SHAPED)}") from None


def shaped_config(name: str):
    """The checkpoint's config with the tiny tokenizer's ids for its special tokens."""
    data = json.loads((ASSETS / "configs" / _entry(name).config_file).read_text())
    model_type = data.pop("model_type")
    data["image_token_id"] = TINY_IMAGE_TOKEN
    if model_type == "llava":
        data["pad_token_id"] = 0
    if model_type == "qwen2_5_vl":
        ids = {t: i for i, t in enumerate(["<pad>", "<bos>", "<eos>", "<unk>"] + _QWEN_SPECIAL)}
        data.update(video_token_id=ids["<|video_pad|>"],
                    vision_start_token_id=ids["<|vision_start|>"],
                    vision_end_token_id=ids["<|vision_end|>"])
    return AutoConfig.for_model(model_type, **data)


def shaped_processor(name: str, image_detail: str = "model"):
    """The checkpoint's image processor settings with the tiny tokenizer.

    Args:
        name: a key of :data:`SHAPED`.
        image_detail: ``"model"`` (the checkpoint's own) or ``"one-tile"``
            (:func:`luq.models.detail.set_image_detail`).
    """
    processor = _processor(name)
    set_image_detail(processor, image_detail)
    return processor


def _processor(name: str):
    config = shaped_config(name)
    if config.model_type == "llava":  # llava-hf's processor: CLIP at 336, 576 image tokens
        size = config.vision_config.image_size
        image = CLIPImageProcessorPil(size={"shortest_edge": size},
                                      crop_size={"height": size, "width": size},
                                      image_mean=CLIP_MEAN, image_std=CLIP_STD)
        return LlavaProcessor(image_processor=image,
                              tokenizer=tiny_tokenizer(_LLAVA_SPECIAL, "<image>"),
                              patch_size=config.vision_config.patch_size,
                              vision_feature_select_strategy="default",
                              num_additional_image_tokens=1, chat_template=_LLAVA_TEMPLATE,
                              image_token="<image>")
    if config.model_type == "qwen2_5_vl":  # Qwen's defaults: 4 to 16384 patches of 28 pixels
        image = Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2,
                                         image_mean=CLIP_MEAN, image_std=CLIP_STD,
                                         size={"shortest_edge": 56 * 56,
                                               "longest_edge": 28 * 28 * 1280})
        tokenizer = tiny_tokenizer(_QWEN_SPECIAL, "<|image_pad|>")
        tokenizer.chat_template = _QWEN_TEMPLATE
        return QwenVLProcessor(image, tokenizer)
    tile = config.vision_config.image_size  # SmolVLM: 512-pixel tiles, 64 tokens each
    image = Idefics3ImageProcessorPil(do_image_splitting=True, size={"longest_edge": 4 * tile},
                                      max_image_size={"longest_edge": tile},
                                      image_mean=[0.5] * 3, image_std=[0.5] * 3)
    seq = (tile // config.vision_config.patch_size) ** 2 // config.scale_factor ** 2
    return Idefics3Processor(image_processor=image,
                             tokenizer=tiny_tokenizer(_IDEFICS_SPECIAL, "<image>"),
                             image_seq_len=seq, chat_template=_IDEFICS_TEMPLATE)


def build_shaped(name: str, device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
                 image_detail: str = "model", seed: int = 0) -> LoadedModel:
    """The model ``name`` at its real shape, random weights, built where it will run."""
    device = torch.device(device)
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    config = shaped_config(name)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return LoadedModel(f"shaped:{name}", model.eval(), shaped_processor(name, image_detail),
                       adapter_for(model), image_detail)


def save_shaped(name: str, folder: str | Path, image_detail: str = "model",
                seed: int = 0) -> Path:
    """Writes a ``save_pretrained`` folder of :func:`build_shaped` (CPU, float32 weights
    stored as bfloat16) that ``luq`` loads like any checkpoint folder."""
    folder = Path(folder)
    loaded = build_shaped(name, "cpu", torch.float32, image_detail, seed)
    loaded.model.to(torch.bfloat16).save_pretrained(folder)
    loaded.processor.save_pretrained(folder)
    return folder

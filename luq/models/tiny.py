"""Tiny random-initialised models of each supported architecture, built from configs.

They need no download, so tests of every architecture run offline; their weights mean
nothing, so they test plumbing, never quality.
"""

from __future__ import annotations

from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    PretrainedConfig,
)

TINY_VOCAB = 320  # room for a small word-level vocabulary plus special tokens
TINY_IMAGE_TOKEN = TINY_VOCAB - 1


def tiny_llava_config(layers: int = 6) -> LlavaConfig:
    """A LLaVA (CLIP tower + Llama decoder) small enough to build in milliseconds."""
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=8,
                              projection_dim=32)
    text = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                       num_attention_heads=4, num_key_value_heads=2, vocab_size=TINY_VOCAB,
                       max_position_embeddings=256, pad_token_id=0, bos_token_id=1,
                       eos_token_id=2)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_id=TINY_IMAGE_TOKEN,
                       projector_hidden_act="gelu", vision_feature_select_strategy="default",
                       vision_feature_layer=-1)


TINY_CONFIGS = {
    "tiny-random-llava": tiny_llava_config,
}


def tiny_config(name: str) -> PretrainedConfig:
    """The config of the tiny model ``name``; fails with the known names."""
    try:
        return TINY_CONFIGS[name]()
    except KeyError:
        raise ValueError(f"unknown tiny model {name!r}; known: {', '.join(TINY_CONFIGS)}") from None

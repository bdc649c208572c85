"""Tiny random-initialised models of each supported architecture, built from configs.

They need no download, so tests of every architecture run offline; their weights mean
nothing, so they test plumbing, never quality. Each comes with a matching offline processor
(a word-level tokenizer, the architecture's own image processor and a chat template), so the
same prompting, calibration and answering code runs on them as on hub checkpoints.

All tiny models share one token layout: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3,
then the architecture's special tokens and a few words, and the image token last
(``TINY_IMAGE_TOKEN``). 32x32 images give 16 image tokens in LLaVA, 4 in Qwen2.5-VL
(16 patches of 8 merged 2x2) and 4 in Idefics3 (16 patches, pixel shuffle 2).
"""

from __future__ import annotations

from collections.abc import Callable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    Idefics3Config,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    LlamaConfig,
    LlavaConfig,
    LlavaProcessor,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2VLImageProcessorPil,
)

from luq.models.prompting import QwenVLProcessor

TINY_VOCAB = 320  # room for a small word-level vocabulary plus special tokens
TINY_IMAGE_TOKEN = TINY_VOCAB - 1
IMAGE_SIZE = 32
PATCH = 8
_BASE = ["<pad>", "<bos>", "<eos>", "<unk>"]
_WORDS = ("user assistant : what colour shape is the of image in this picture how many are "
          "there a red green blue yellow circle square triangle left right top bottom big small "
          "one two three yes no ? . ,").split()
_TEXT = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
             vocab_size=TINY_VOCAB, max_position_embeddings=256, pad_token_id=0, bos_token_id=1,
             eos_token_id=2)

# Architecture-specific special tokens (the image token itself is added last, at id 319).
_LLAVA_SPECIAL: list[str] = []
_QWEN_SPECIAL = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|video_pad|>"]
_IDEFICS_SPECIAL = ["<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>",
                    "<global-img>"]

_LLAVA_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} :"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %} <image>"
    "{% else %} {{ c['text'] }}{% endif %}{% endfor %} {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)
_QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_IDEFICS_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}:"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def tiny_tokenizer(special: list[str], image_token: str) -> PreTrainedTokenizerFast:
    """A word-level tokenizer of exactly ``TINY_VOCAB`` ids, ``image_token`` at the last id.

    Args:
        special: the architecture's special tokens (chat markers, vision markers).
        image_token: the text that marks an image position (e.g. ``<image>``).
    """
    words = _BASE + special + [w for w in _WORDS if w not in special]
    filler = [f"<unused{i}>" for i in range(TINY_VOCAB - 1 - len(words))]
    vocab = {w: i for i, w in enumerate(words + filler + [image_token])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": [*special, image_token]})
    return fast


def tiny_llava_config(layers: int = 6) -> LlavaConfig:
    """A LLaVA (CLIP tower + Llama decoder) small enough to build in milliseconds."""
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH,
                              projection_dim=32)
    text = LlamaConfig(num_hidden_layers=layers, **_TEXT)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_id=TINY_IMAGE_TOKEN,
                       projector_hidden_act="gelu", vision_feature_select_strategy="default",
                       vision_feature_layer=-1)


def tiny_qwen2_5_vl_config(layers: int = 6) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL (windowed ViT with 2x2 patch merger + Qwen2 decoder with M-RoPE)."""
    ids = {t: i for i, t in enumerate(_BASE + _QWEN_SPECIAL)}
    # M-RoPE sections (temporal, height, width) sum to head_dim / 2 = 64 / 4 / 2.
    text = dict(_TEXT, num_hidden_layers=layers, eos_token_id=ids["<|im_end|>"],
                rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                  patch_size=PATCH, spatial_merge_size=2, temporal_patch_size=2, window_size=32,
                  fullatt_block_indexes=[1])
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision,
                            image_token_id=TINY_IMAGE_TOKEN, video_token_id=ids["<|video_pad|>"],
                            vision_start_token_id=ids["<|vision_start|>"],
                            vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)


def tiny_idefics3_config(layers: int = 6) -> Idefics3Config:
    """An Idefics3 / SmolVLM (SigLIP-style tower, pixel-shuffle connector, Llama decoder)."""
    text = LlamaConfig(num_hidden_layers=layers, **_TEXT)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=IMAGE_SIZE, patch_size=PATCH)
    return Idefics3Config(text_config=text, vision_config=vision, scale_factor=2,
                          image_token_id=TINY_IMAGE_TOKEN, tie_word_embeddings=False)


def tiny_llava_processor() -> LlavaProcessor:
    """CLIP image processor (32x32) + tokenizer + chat template: 16 ``<image>`` tokens."""
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return LlavaProcessor(image_processor=image_processor,
                          tokenizer=tiny_tokenizer(_LLAVA_SPECIAL, "<image>"),
                          patch_size=PATCH, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=_LLAVA_TEMPLATE,
                          image_token="<image>")


def tiny_qwen2_5_vl_processor() -> QwenVLProcessor:
    """Qwen2-VL image processor (patch 8, merge 2; 32x32 -> 4 tokens) + tokenizer."""
    side = PATCH * 2
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=PATCH, merge_size=2, temporal_patch_size=2,
        size={"shortest_edge": side * side, "longest_edge": 4 * IMAGE_SIZE * IMAGE_SIZE})
    tokenizer = tiny_tokenizer(_QWEN_SPECIAL, "<|image_pad|>")
    tokenizer.chat_template = _QWEN_TEMPLATE
    return QwenVLProcessor(image_processor, tokenizer)


def tiny_idefics3_processor() -> Idefics3Processor:
    """Idefics3 image processor (one 32x32 tile, no splitting) + tokenizer: 4 image tokens."""
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": IMAGE_SIZE},
        max_image_size={"longest_edge": IMAGE_SIZE})
    seq_len = (IMAGE_SIZE // PATCH) ** 2 // 2**2
    return Idefics3Processor(image_processor=image_processor,
                             tokenizer=tiny_tokenizer(_IDEFICS_SPECIAL, "<image>"),
                             image_seq_len=seq_len, chat_template=_IDEFICS_TEMPLATE)


TINY_CONFIGS: dict[str, Callable[[], PretrainedConfig]] = {
    "tiny-random-llava": tiny_llava_config,
    "tiny-random-qwen2.5-vl": tiny_qwen2_5_vl_config,
    "tiny-random-smolvlm": tiny_idefics3_config,
}
_TINY_PROCESSORS: dict[str, Callable[[], object]] = {
    "tiny-random-llava": tiny_llava_processor,
    "tiny-random-qwen2.5-vl": tiny_qwen2_5_vl_processor,
    "tiny-random-smolvlm": tiny_idefics3_processor,
}


def tiny_config(name: str) -> PretrainedConfig:
    """The config of the tiny model ``name``; fails with the known names."""
    try:
        return TINY_CONFIGS[name]()
    except KeyError:
        raise ValueError(f"unknown tiny model {name!r}; known: {', '.join(TINY_CONFIGS)}") from None


def tiny_processor(name: str):
    """The offline processor matching the tiny model ``name``; fails with the known names."""
    try:
        return _TINY_PROCESSORS[name]()
    except KeyError:
        raise ValueError(f"unknown tiny model {name!r}; known: {', '.join(TINY_CONFIGS)}") from None

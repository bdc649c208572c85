"""The embedded model: a tiny LLaVA (CLIP tower + projector + Llama decoder) built from nothing.

Everything a hub checkpoint has is made here: a word-level tokenizer, a CLIP image
processor, a ``LlavaProcessor`` with a chat template, and a ``LlavaConfig``. Training is in
``luq.embedded.train``; the trained folder ships in ``assets/embedded``.
"""

from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from luq.embedded.render import COLORS, IMAGE_SIZE, POSITIONS, SHAPES, SIZES
from luq.embedded.shapes import COUNT_WORDS, text_prompts
from luq.models.registry import ASSETS

EMBEDDED_DIR = ASSETS / "embedded"
PATCH_SIZE = 16
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # CLS dropped ("default" feature strategy)
IMAGE_TOKEN = "<image>"
SPECIAL = ["<pad>", "<unk>", "<bos>", "<eos>", IMAGE_TOKEN]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}user :"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %} <image>{% else %} {{ c['text'] }}{% endif %}"
    "{% endfor %} "
    "{% else %}assistant :"
    "{% for c in message['content'] %} {{ c['text'] }}{% endfor %} <eos> "
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def vocabulary() -> list[str]:
    """Every word the model reads or writes, special tokens first."""
    words = {"user", ":", "assistant", ",", "?", ".", "describe", "image", "the"}
    words |= {*COLORS, *SHAPES, *SIZES, *POSITIONS, *COUNT_WORDS}
    for prompt in text_prompts():
        words |= set(prompt.split())
    return SPECIAL + sorted(words - set(SPECIAL))


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Word-level tokenizer: lowercase, split on whitespace and punctuation, ``<bos>`` first."""
    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<bos>", eos_token="<eos>",
                                   extra_special_tokens={"image_token": IMAGE_TOKEN})
    fast.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    return fast


def build_processor() -> LlavaProcessor:
    """Tokenizer + CLIP image processor (64x64, CLIP normalisation) + chat template."""
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=True, do_convert_rgb=True)
    return LlavaProcessor(image_processor=image_processor, tokenizer=build_tokenizer(),
                          patch_size=PATCH_SIZE, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE,
                          image_token=IMAGE_TOKEN)


def build_config(tokenizer: PreTrainedTokenizerFast, layers: int = 12, hidden: int = 128,
                 intermediate: int = 384, heads: int = 4, vision_hidden: int = 128,
                 vision_layers: int = 4) -> LlavaConfig:
    """The tiny LLaVA: a CLIP tower (patch 16 on 64x64 images), GELU projector, Llama decoder.

    Args:
        tokenizer: from :func:`build_tokenizer`; fixes the vocabulary and special-token ids.
        layers: decoder blocks (at least 12, so that choosing layers means something).
        hidden: decoder width.
        intermediate: decoder MLP width.
        heads: decoder attention heads.
        vision_hidden: CLIP tower width (4 heads).
        vision_layers: CLIP tower depth.
    """
    vision = CLIPVisionConfig(hidden_size=vision_hidden, intermediate_size=2 * vision_hidden,
                              num_hidden_layers=vision_layers, num_attention_heads=4,
                              image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
                              projection_dim=vision_hidden)
    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
           "eos_token_id": tokenizer.eos_token_id}
    text = LlamaConfig(hidden_size=hidden, intermediate_size=intermediate,
                       num_hidden_layers=layers, num_attention_heads=heads,
                       num_key_value_heads=heads, vocab_size=len(tokenizer),
                       max_position_embeddings=128, tie_word_embeddings=False, **ids)
    return LlavaConfig(vision_config=vision, text_config=text,
                       image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                       image_seq_length=IMAGE_TOKENS, projector_hidden_act="gelu",
                       vision_feature_select_strategy="default", vision_feature_layer=-1,
                       pad_token_id=tokenizer.pad_token_id)

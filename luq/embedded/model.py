"""The embedded model: a tiny LLaVA (SigLIP tower + projector + Llama decoder) built from nothing.

Everything a hub checkpoint has is made here: a SentencePiece tokenizer, an image
processor, a ``LlavaProcessor`` with a chat template, and a ``LlavaConfig``. The tower is
SigLIP-style (no class token), as in LLaVA-OneVision: llama.cpp's LLaVA graph appends a CLIP
tower's class token after the patches (HF puts it first), which shifts every position by one;
without a class token llama.cpp computes what transformers computes. Training is in
``luq.embedded.train``; the trained folder ships in ``assets/embedded``.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    CLIPImageProcessorPil,
    LlamaConfig,
    LlavaConfig,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    SiglipVisionConfig,
)

from luq.embedded.render import COLORS, IMAGE_SIZE, POSITIONS, SHAPES, SIZES
from luq.embedded.shapes import COUNT_WORDS, text_prompts
from luq.models.registry import ASSETS

EMBEDDED_DIR = ASSETS / "embedded"
PATCH_SIZE = 8
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # one per patch ("full" strategy, no CLS)
IMAGE_TOKEN = "<image>"
SPECIAL = ["<pad>", "<unk>", "<bos>", "<eos>", IMAGE_TOKEN]
# No space between "user :", the image and the question: a special token splits the text,
# and each piece after it gets one word-boundary mark ("▁") in transformers and llama.cpp alike.
# Content may also be one string (llama.cpp passes the image as its media marker in front of
# the question: "<__media_...__>what ...").
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}user :"
    "{% if message['content'] is string %}"
    "{% if not message['content'].startswith('<') %} {% endif %}{{ message['content'] }}"
    "{% else %}"
    "{% set image = namespace(last=false) %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% set image.last = true %}"
    "{% else %}{% if not image.last %} {% endif %}{{ c['text'] }}{% set image.last = false %}"
    "{% endif %}{% endfor %}"
    "{% endif %} "
    "{% else %}assistant :"
    "{% if message['content'] is string %} {{ message['content'] }}{% else %}"
    "{% for c in message['content'] %} {{ c['text'] }}{% endfor %}{% endif %}<eos>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)
WORD_MARK = "\u2581"  # SentencePiece's word-boundary mark


def vocabulary() -> list[str]:
    """Every word the model reads or writes (each one token), special tokens first."""
    words = {"user", ":", "assistant", ",", "?", ".", "describe", "image", "the"}
    words |= {*COLORS, *SHAPES, *SIZES, *POSITIONS, *COUNT_WORDS}
    for prompt in text_prompts():
        words |= set(prompt.split())
    return SPECIAL + sorted(words - set(SPECIAL))


def word_id(tokenizer, word: str) -> int:
    """Id of the single token that spells ``word`` after a space."""
    return tokenizer.convert_tokens_to_ids(WORD_MARK + word)


def sentencepiece_model() -> bytes:
    """Trains the embedded model's SentencePiece BPE (``tokenizer.model``), deterministically.

    Trained on every word of :func:`vocabulary` in the chat format, it ends with each word as
    one piece (``"▁red"``), single letters for anything else, no byte fallback: what
    llama.cpp's converter takes as a SentencePiece ("llama") vocabulary.
    """
    import io

    import sentencepiece as spm

    words = [w for w in vocabulary() if w not in SPECIAL]
    lines = ["user : " + " ".join(words), "assistant : " + " ".join(reversed(words))]
    lines += [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    letters = "abcdefghijklmnopqrstuvwxyz0123456789'-!"
    lines += [" ".join(letters)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=1000, model_type="bpe",
        hard_vocab_limit=False, byte_fallback=False, character_coverage=1.0,
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>",
        bos_piece="<bos>", eos_piece="<eos>", user_defined_symbols=[IMAGE_TOKEN],
        normalization_rule_name="identity", add_dummy_prefix=True, num_threads=1,
        minloglevel=2)
    return model.getvalue()


def _bpe_of(spm_model: bytes) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Pieces and merges of a SentencePiece BPE, merges ranked by the merged piece's score
    (what transformers' ``SentencePieceExtractor`` does, without needing protobuf)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=spm_model)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    merges = []
    for piece, i in vocab.items():
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i) or len(piece) < 2:
            continue
        pairs = [(piece[:k], piece[k:]) for k in range(1, len(piece))
                 if piece[:k] in vocab and piece[k:] in vocab]
        merges += [(sp.get_score(i), vocab[a], vocab[b], a, b) for a, b in pairs]
    merges.sort(key=lambda m: (-m[0], m[1], m[2]))
    return vocab, [(a, b) for *_, a, b in merges]


def build_tokenizer(spm_model: bytes | None = None) -> PreTrainedTokenizerFast:
    """The transformers tokenizer of :func:`sentencepiece_model` (its pieces and merges).

    It lowercases first (llama.cpp, reading ``tokenizer.model``, does not: send it lowercase
    text); otherwise both split every text the same way, with ``<bos>`` first.
    """
    vocab, merges = _bpe_of(spm_model or sentencepiece_model())
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                               byte_fallback=False))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=WORD_MARK, prepend_scheme="always",
                                                 split=False)
    tok.decoder = decoders.Metaspace(replacement=WORD_MARK, prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<bos>", eos_token="<eos>", add_bos_token=True,
                                   extra_special_tokens={"image_token": IMAGE_TOKEN})
    fast.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    return fast


def build_processor(spm_model: bytes | None = None) -> LlavaProcessor:
    """Tokenizer + image processor (64x64, CLIP normalisation) + chat template."""
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=True, do_convert_rgb=True)
    return LlavaProcessor(image_processor=image_processor, tokenizer=build_tokenizer(spm_model),
                          patch_size=PATCH_SIZE, vision_feature_select_strategy="full",
                          num_additional_image_tokens=0, chat_template=CHAT_TEMPLATE,
                          image_token=IMAGE_TOKEN)


def build_config(tokenizer: PreTrainedTokenizerFast, layers: int = 12, hidden: int = 256,
                 intermediate: int = 512, heads: int = 4, vision_hidden: int = 256,
                 vision_layers: int = 4) -> LlavaConfig:
    """The tiny LLaVA: a SigLIP tower (patch 8 on 64x64 images), GELU projector, Llama decoder.

    Args:
        tokenizer: from :func:`build_tokenizer`; fixes the vocabulary and special-token ids.
        layers: decoder blocks (at least 12, so that choosing layers means something).
        hidden: decoder width.
        intermediate: decoder MLP width.
        heads: decoder attention heads.
        vision_hidden: vision tower width (4 heads).
        vision_layers: vision tower depth.
    """
    vision = SiglipVisionConfig(hidden_size=vision_hidden, intermediate_size=2 * vision_hidden,
                                num_hidden_layers=vision_layers, num_attention_heads=4,
                                image_size=IMAGE_SIZE, patch_size=PATCH_SIZE,
                                vision_use_head=False)
    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
           "eos_token_id": tokenizer.eos_token_id}
    text = LlamaConfig(hidden_size=hidden, intermediate_size=intermediate,
                       num_hidden_layers=layers, num_attention_heads=heads,
                       num_key_value_heads=heads, vocab_size=len(tokenizer),
                       max_position_embeddings=256, tie_word_embeddings=False, **ids)
    return LlavaConfig(vision_config=vision, text_config=text,
                       image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                       image_seq_length=IMAGE_TOKENS, projector_hidden_act="gelu_pytorch_tanh",
                       vision_feature_select_strategy="full", vision_feature_layer=-1,
                       pad_token_id=tokenizer.pad_token_id)

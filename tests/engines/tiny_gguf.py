"""Tiny models, a tokenizer llama.cpp accepts, and one GGUF export shared by the GGUF tests.

The tiny registry models use word-level tokenizers, which llama.cpp's converter rejects; these
tests hand it a small SentencePiece BPE instead, trained here in milliseconds. The converter pads
its vocabulary to the models' 320 ids, so the same weights convert unchanged.
"""

from __future__ import annotations

import atexit
import random
import shutil
import tempfile
from functools import cache
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from luq.engines.convert import sentencepiece_tokenizer
from luq.export.gguf import GGUFExport, export_gguf
from luq.plan import BitPlan, LayerAssignment
from luq.quant.spec import QuantSpec

VOCAB = 320
# Each architecture's chat and image markers, as single tokens (llama.cpp's mtmd looks them up).
SPECIALS = {
    "llama": [],
    "llava": ["<image>"],
    "qwen2_5_vl": ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                   "<|image_pad|>"],
    "idefics3": ["\n", "\n\n", "<|im_start|>", "<end_of_utterance>",
                 "<fake_token_around_image>", "<global-img>", "<image>"],
}
_WORDS = ("the a red green blue circle square triangle how many what is there one two three "
          "yes no image shape colour left right top bottom big small picture of in this are "
          "answer question user assistant").split()
# One block per type the table offers below 3 bits, and a 4-bit block (Q4_K with Q6_K bumps).
MIXED_SPECS = (QuantSpec("billm", 1, 0, split=False), QuantSpec("rtn", 1, 64),
               QuantSpec("rtn", 2, 64), QuantSpec("rtn", 4, 64))
MIXED_TYPES = {0: "IQ1_M", 1: "Q1_0", 2: "Q2_K", 3: "Q4_K"}


def sp_tokenizer_dir(folder: Path, specials: list[str] = (), byte_fallback: bool = True) -> Path:
    """A SentencePiece ``tokenizer.model`` of at most ``VOCAB`` ids in ``folder``.

    ``byte_fallback=False`` for exact token comparisons (llama.cpp's logprobs fold a byte piece
    that ends the text mid-character into the next token); with it for chat templates, whose
    newlines an SPM vocabulary without byte pieces cannot spell in llama.cpp.
    """
    rng = random.Random(0)
    sentences = [" ".join(rng.choice(_WORDS) for _ in range(8)) for _ in range(400)]
    return sentencepiece_tokenizer(folder, sentences, VOCAB, tuple(specials), byte_fallback)


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    """A random Llama decoder whose rows fit every ggml block size (256 / 512 wide, 4 blocks)."""
    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
                         max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
                         initializer_range=0.08, tie_word_embeddings=False)
    return LlamaForCausalLM(config).eval()


def block_names(model) -> list[str]:
    return [f"model.layers.{i}" for i in range(model.config.num_hidden_layers)]


def calibration(n: int = 4, length: int = 32) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"input_ids": torch.randint(3, VOCAB, (1, length), generator=g)} for _ in range(n)]


def _tmp(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


@cache
def mixed_export() -> tuple[LlamaForCausalLM, BitPlan, GGUFExport]:
    """The tiny Llama exported once per test session: blocks IQ1_M, Q1_0, Q2_K, Q4_K, with
    the converter's f32 GGUF kept (``export.base``) for exact comparisons."""
    model = tiny_llama()
    plan = BitPlan(tuple(LayerAssignment(n, s) for n, s in zip(block_names(model), MIXED_SPECS)))
    root = _tmp("luq-gguf-")
    export = export_gguf(model, plan, root / "out", batches=calibration(), outtype="f32",
                         keep_base=True,
                         tokenizer_dir=sp_tokenizer_dir(root / "tok", byte_fallback=False))
    return model, plan, export

"""The shipped embedded model: loads offline through the Auto classes and is accurate."""

import os

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from luq.embedded import load_split
from luq.embedded.model import EMBEDDED_DIR, build_config, build_processor
from luq.evaluation import evaluate


@pytest.fixture(scope="module")
def shipped():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    processor = AutoProcessor.from_pretrained(EMBEDDED_DIR)
    model = AutoModelForImageTextToText.from_pretrained(EMBEDDED_DIR, dtype=torch.float32)
    return model.eval(), processor


def test_folder_is_small_and_safetensors():
    files = list(EMBEDDED_DIR.iterdir())
    assert any(f.name == "model.safetensors" for f in files)
    assert sum(f.stat().st_size for f in files) <= 25 * 2**20
    assert (EMBEDDED_DIR / "README.md").exists()


def test_loads_offline_with_auto_classes(shipped):
    model, processor = shipped
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert model.config.text_config.num_hidden_layers >= 12


# The floor: 90 % on the whole test split, 85 % on this fixed sample.
MIN_ACCURACY = 0.85


def test_accuracy_on_a_fixed_sample(shipped):
    model, processor = shipped
    result = evaluate(model, processor, load_split("test", 200))
    assert result.accuracy >= MIN_ACCURACY, result.to_dict()
    assert set(result.per_type) == {"color", "shape", "count", "position", "size"}
    assert min(result.per_type.values()) >= 0.6, result.per_type  # every kind of question


def test_shipped_model_matches_the_training_sources(shipped):
    """The folder is what ``luq.embedded.train`` builds: same vocabulary, template
    and architecture (so retraining from the sources gives a model of this shape)."""
    model, processor = shipped
    built = build_processor()
    assert processor.tokenizer.get_vocab() == built.tokenizer.get_vocab()
    assert processor.chat_template == built.chat_template
    ours, theirs = build_config(built.tokenizer).to_dict(), model.config.to_dict()
    for part in ("text_config", "vision_config"):
        for key in ("hidden_size", "intermediate_size", "num_hidden_layers",
                    "num_attention_heads", "vocab_size", "image_size", "patch_size"):
            assert ours[part].get(key) == theirs[part].get(key), (part, key)
    assert build_config(built.tokenizer).image_token_id == model.config.image_token_id


def test_tokenizer_is_the_shipped_sentencepiece_model_and_spells_each_word_once():
    """tokenizer.model (what llama.cpp's converter reads) is what the training script builds,
    and transformers' tokenizer.json splits every prompt exactly as SentencePiece does."""
    import sentencepiece as spm

    from luq.embedded import text_prompts
    from luq.embedded.model import SPECIAL, sentencepiece_model, vocabulary

    shipped = (EMBEDDED_DIR / "tokenizer.model").read_bytes()
    assert shipped == sentencepiece_model()  # reproducible by the script
    processor = AutoProcessor.from_pretrained(EMBEDDED_DIR)
    tok = processor.tokenizer
    for word in vocabulary():
        if word not in SPECIAL:
            assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word
    sp = spm.SentencePieceProcessor(model_proto=shipped)
    for text in [*text_prompts(), "user : what colour is it? zebra 42 assistant :"]:
        ours = tok(text, add_special_tokens=False)["input_ids"]
        assert ours == sp.encode(text), text
    assert tok("What Color")["input_ids"] == tok("what color")["input_ids"]  # lowercases
    assert tok("red")["input_ids"][0] == tok.bos_token_id


def test_chat_template_takes_typed_parts_and_llamacpp_strings_alike():
    processor = build_processor()

    def render(content):
        return processor.apply_chat_template([{"role": "user", "content": content}],
                                             add_generation_prompt=True, tokenize=False)

    typed = render([{"type": "image"}, {"type": "text", "text": "how many objects are there ?"}])
    assert typed == "user :<image>how many objects are there ? assistant :"
    # llama.cpp hands the image as its media marker in front of the question, one string
    assert render("<image>how many objects are there ?") == typed
    assert render([{"type": "text", "text": "describe the image ."}]) == \
        render("describe the image .") == "user : describe the image . assistant :"


def test_every_decoder_linear_holds_every_offered_llama_cpp_type(shipped):
    """Third edition: decoder rows are multiples of 256, so every ggml type the explorer
    offers (K- and i-quants store blocks of 256) applies as itself, with no fallback; the
    vision tower and projector hold the mmproj types offered (F16, Q8_0, Q4_K) likewise."""
    from luq.models.adapters import adapter_for
    from luq.quant import ggml_types
    from luq.tower import TOWER_TYPES

    model, _ = shipped
    adapter = adapter_for(model)
    linears = [m for block in adapter.blocks(model) for m in block.modules()
               if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 7 * len(adapter.blocks(model))
    assert all(m.in_features % 256 == 0 for m in linears), {m.in_features for m in linears}
    for qtype in ggml_types.OFFERED:
        assert {ggml_types.stored_type(qtype, m.in_features) for m in linears} == {qtype}
    tower = [m for m in model.model.vision_tower.modules() if isinstance(m, torch.nn.Linear)]
    tower += [m for m in model.model.multi_modal_projector.modules()
              if isinstance(m, torch.nn.Linear)]
    for qtype in TOWER_TYPES:
        if qtype != "F16":
            assert {ggml_types.stored_type(qtype, m.in_features) for m in tower} == {qtype}

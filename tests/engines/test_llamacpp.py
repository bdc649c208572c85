"""llama.cpp in-process: exact greedy tokens from an f32 export, timings and memory reported,
clear errors for what is missing."""

import sys

import pytest
import torch

from luq.engines import ggml
from luq.engines.llamacpp import LlamaCppError, LlamaCppMissingError, LlamaCppModel, rss_bytes
from tests.engines.tiny_gguf import mixed_export
from tests.models.test_architectures import picture

PROMPTS = ([1, 7, 40, 99, 12, 250, 31], [1, 300, 5, 5, 17])


def test_f32_gguf_gives_the_hf_models_greedy_tokens():
    model, _, export = mixed_export()
    with LlamaCppModel(export.base) as engine:
        for ids in PROMPTS:
            with torch.no_grad():
                hf = model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False,
                                    min_new_tokens=8)[0, len(ids):].tolist()
            assert engine.answer(list(ids), max_tokens=8, ignore_eos=True).tokens == hf


def test_luq_gguf_answers_and_reports_speed_and_memory():
    _, _, export = mixed_export()
    with LlamaCppModel(export.model, n_threads=2) as engine:
        answers = engine.answers(["how many red circle", "what colour is the square"],
                                 max_tokens=6)
        timed = engine.answer("how many red circle", max_tokens=6, ignore_eos=True)
        report = engine.report(answers + [timed])
    assert all(isinstance(a.text, str) for a in answers)
    assert timed.decode_tokens == 6 and len(timed.tokens) == 6 and timed.prompt_tokens >= 2
    assert report["file_bytes"] == export.model.stat().st_size == export.model_bytes
    assert report["rss_after_load_bytes"] >= report["rss_load_delta_bytes"] > 0
    assert report["prompt_tok_s"] > 0 and report["decode_tok_s"] > 0 and report["threads"] == 2
    assert rss_bytes() > 0


def test_clear_errors(monkeypatch, tmp_path):
    _, _, export = mixed_export()
    with pytest.raises(LlamaCppError, match="no such GGUF"):
        LlamaCppModel(tmp_path / "missing.gguf")
    with LlamaCppModel(export.model) as engine:
        with pytest.raises(LlamaCppError, match="mmproj"):
            engine.answer("what colour", picture(0))
        with pytest.raises(LlamaCppError, match="llama.cpp failed"):  # no newline piece
            engine.answer("what\ncolour", chat=True)
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(LlamaCppMissingError, match="pip install xllamacpp"):
        LlamaCppModel(export.model)


def test_ggml_binding_sizes_and_missing_package(monkeypatch):
    import numpy as np

    w = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    assert ggml.quantize(w, "Q4_K").shape == (4, ggml.row_bytes("Q4_K", 256)) == (4, 144)
    assert ggml.quantize(w, "Q1_0").shape == (4, 36)  # 2 blocks of 128 signs + fp16 scale
    with pytest.raises(ValueError, match="multiple of 256"):
        ggml.quantize(w[:, :64], "Q2_K")
    with pytest.raises(ValueError, match="needs an importance matrix"):
        ggml.quantize(w, "IQ2_XXS")
    monkeypatch.setitem(sys.modules, "libggml", None)
    ggml._lib.cache_clear()
    try:
        with pytest.raises(ggml.GGMLMissingError, match="pip install libggml-python"):
            ggml.requires_imatrix("IQ1_M")
    finally:
        monkeypatch.undo()
        ggml._lib.cache_clear()

"""The embedded model's training script, end to end in a few steps (not a real training)."""

import json

import pytest
import torch
from torch import nn
from transformers import AutoModelForImageTextToText, AutoProcessor, LlavaForConditionalGeneration

from luq.embedded.model import build_config, build_processor
from luq.embedded.train import lr_at, seed_projector, train


def test_learning_rate_warms_up_then_decays_to_zero():
    rates = [lr_at(s, 200, 1e-3, warmup=20) for s in range(200)]
    assert rates[0] < rates[19] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[20:], rates[21:]))
    assert rates[-1] < 1e-5


def test_projector_starts_from_the_attribute_head():
    processor = build_processor()
    model = LlavaForConditionalGeneration(build_config(processor.tokenizer))
    head = nn.Linear(model.config.vision_config.hidden_size, 38)
    seed_projector(model, head)
    first = model.model.multi_modal_projector.linear_1
    assert torch.equal(first.weight[:38], head.weight)
    with pytest.raises(ValueError, match="too narrow"):
        seed_projector(model, nn.Linear(head.in_features, first.out_features + 1))


def test_a_few_steps_write_a_loadable_folder_with_its_card(tmp_path):
    lines = []
    summary = train(tmp_path / "model", steps=(2, 2, 2), batch=4, turns=2,
                    log=lines.append)
    folder = tmp_path / "model"
    assert (folder / "model.safetensors").exists() and (folder / "README.md").exists()
    saved = json.loads((folder / "training.json").read_text())
    assert saved["steps"] == [2, 2, 2] and saved["attention_weight"] == 1.0
    assert set(saved["test"]) == {"accuracy", "n", "per_type", "seconds"}
    assert saved["test"]["n"] == 1000 and summary["wall_seconds"] >= 0
    assert any("attention loss" in line for line in lines)
    assert any("validation accuracy" in line for line in lines)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert model.config.text_config.num_hidden_layers == 12
    assert AutoProcessor.from_pretrained(folder).chat_template
    card = (folder / "README.md").read_text()
    assert "attention" in card and "What it can answer" in card


def test_the_same_seed_trains_the_same_weights(tmp_path):
    def weights(seed: int, name: str) -> bytes:
        train(tmp_path / name, seed=seed, steps=(3, 2, 2), batch=4, turns=2)
        return (tmp_path / name / "model.safetensors").read_bytes()

    first = weights(7, "a")
    assert weights(7, "b") == first
    assert weights(8, "c") != first

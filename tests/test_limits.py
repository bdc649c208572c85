"""Configs are held to stated limits by arithmetic, before anything is built."""

import json

import pytest

from luq.limits import (
    DEFAULT_LIMITS,
    MAX_CONFIG_FILE_BYTES,
    ConfigLimits,
    ConfigTooLarge,
    check_config,
    estimate_parameters,
    read_config_file,
)
from luq.models.loading import ModelLoadError, build_meta_model, config_from_file
from luq.models.registry import ASSETS


@pytest.mark.parametrize("field, value, limit", [
    ("num_hidden_layers", 10_000_000, "1024 layers"), ("hidden_size", 10**9, "65536 width"),
    ("intermediate_size", 10**7, "262144 intermediate"), ("num_attention_heads", 5000, "heads"),
    ("num_local_experts", 5000, "1024 experts"), ("vocab_size", 10**8, "vocabulary"),
    ("max_position_embeddings", 10**9, "positions"), ("depth", 2000, "layers")])
def test_each_field_has_its_limit(field, value, limit):
    with pytest.raises(ConfigTooLarge, match=f"text_config.{field} = {value} .*{limit}"):
        check_config({"model_type": "llava", "text_config": {field: value}})


@pytest.mark.parametrize("value, message", [(-1, "must not be negative"), (1.5, "whole number"),
                                            ("12", "whole number"), (True, "whole number"),
                                            (1e300, "over this app.s limit")])
def test_size_fields_must_be_whole_non_negative_numbers(value, message):
    with pytest.raises(ConfigTooLarge, match=message):
        check_config({"text_config": {"num_hidden_layers": value}})


def test_total_parameters_and_expert_blocks_are_bounded():
    wide = {"text_config": {"hidden_size": 16384, "num_hidden_layers": 1000,
                            "intermediate_size": 200_000}}
    assert estimate_parameters(wide) > DEFAULT_LIMITS.parameters
    with pytest.raises(ConfigTooLarge, match="T parameters, over this app's limit of 2 T"):
        check_config(wide)
    with pytest.raises(ConfigTooLarge, match="layer x expert blocks"):
        check_config({"text_config": {"num_hidden_layers": 1000, "num_experts": 1000}})
    with pytest.raises(ConfigTooLarge, match="patches per image"):
        check_config({"vision_config": {"image_size": 100_000, "patch_size": 1}})
    with pytest.raises(ConfigTooLarge, match="JSON object"):
        check_config([1, 2])
    with pytest.raises(ValueError, match="positive"):
        ConfigLimits(layers=0)


@pytest.mark.parametrize("name, billions", [("llava-1.5-7b-hf.json", 7.06),
                                            ("qwen2.5-vl-7b-instruct.json", 8.29),
                                            ("smolvlm-256m-instruct.json", 0.256)])
def test_shipped_configs_pass_and_are_estimated_to_the_right_order(name, billions):
    params = check_config(json.loads((ASSETS / "configs" / name).read_text()))
    assert 0.6 * billions < params / 1e9 < 1.6 * billions


def test_a_config_file_is_size_capped_and_checked_before_building(tmp_path):
    big = tmp_path / "config.json"
    big.write_text(" " * (MAX_CONFIG_FILE_BYTES + 1))
    with pytest.raises(ConfigTooLarge, match="bytes"):
        read_config_file(big)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError):
        read_config_file(deep)
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"model_type": "llava", "text_config": {
        "model_type": "llama", "num_hidden_layers": 10_000_000}}))
    with pytest.raises(ModelLoadError, match="nothing was built"):
        build_meta_model(config_from_file(huge))

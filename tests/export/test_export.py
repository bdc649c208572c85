"""Exports of a plan: GPTQModel dynamic rules, llama.cpp overrides, a reloadable LUQ folder."""

import re

import pytest
import torch
from torch import nn

from luq.apply import LayerVariantCache
from luq.export import gptqmodel_config, llama_cpp_overrides, load_quantized, save_quantized
from luq.export.rules import GGML_TYPES, LLAMA_FTYPES
from luq.models.loading import load_model
from luq.models.prompting import build_inputs
from luq.models.tiny import TINY_CONFIGS
from luq.plan import BitPlan
from luq.quant.spec import FULL_PRECISION, QuantSpec
from tests.models.test_architectures import picture

HIGH = QuantSpec("rtn", 4, 64)
LOW = QuantSpec("billm", 1, 64)
FP16 = FULL_PRECISION
GGUF_TENSORS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@pytest.fixture(scope="module")
def llava():
    return load_model("tiny-random-llava", device="cpu")


def luq_plan(names: list[str]) -> BitPlan:
    """Block 1 ultra-low, block 4 kept in 16 bits, the rest 4-bit."""
    plan = BitPlan.mixed(names, HIGH, LOW, [names[1]])
    layers = tuple(a if a.name != names[4] else type(a)(a.name, FP16) for a in plan.layers)
    return BitPlan(layers)


def gptq_rule_for(dynamic: dict, module_name: str) -> tuple[str, dict] | None:
    """The first rule GPTQModel / vLLM would apply (``re.match`` on the full name)."""
    for key, value in dynamic.items():
        sign, pattern = (key[0], key[2:]) if key[:2] in ("+:", "-:") else ("+", key)
        if re.match(pattern, module_name):
            return sign, value
    return None


def test_gptqmodel_rules_name_exactly_the_plan_layers(llava):
    names = llava.adapter.block_names(llava.model)
    plan = luq_plan(names)
    export = gptqmodel_config(plan)
    config = export["quantize_config"]
    assert config["bits"] == 4 and config["group_size"] == 64
    assert len(config["dynamic"]) == 2 and export["notes"]
    for name, module in llava.model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        rule = gptq_rule_for(config["dynamic"], name)
        block = next((a for a in plan.layers if name.startswith(a.name + ".")), None)
        if block is None or block.spec == HIGH:  # vision tower, projector, lm_head, 4-bit
            assert rule is None, name
        elif block.spec == FP16:
            assert rule == ("-", {}), name
        else:
            assert rule == ("+", {"bits": 2, "group_size": 64}), name


def test_gptqmodel_rules_match_vllm_names_too(llava):
    names = llava.adapter.block_names(llava.model)
    dynamic = gptqmodel_config(luq_plan(names))["quantize_config"]["dynamic"]
    assert gptq_rule_for(dynamic, "language_model.model.layers.1.mlp.down_proj")[0] == "+"
    assert gptq_rule_for(dynamic, "language_model.model.layers.11.mlp.down_proj") is None
    assert gptq_rule_for(dynamic, "vision_tower.vision_model.encoder.layers.3.mlp.fc1") is None


def test_llama_cpp_overrides_are_well_formed(llava):
    names = llava.adapter.block_names(llava.model)
    plan = luq_plan(names)
    export = llama_cpp_overrides(plan)
    assert export["ftype"] == "Q4_K_M" and export["ftype"] in LLAMA_FTYPES.values()
    assert export["per_layer"] == {0: "Q4_K", 1: "IQ1_M", 2: "Q4_K", 3: "Q4_K", 4: "F16",
                                   5: "Q4_K"}
    assert len(export["tensor_types"]) == 2
    assert export["args"][::2] == ["--tensor-type"] * 2
    assert "--imatrix" in export["command"] and export["command"].endswith("Q4_K_M")
    types = {t.lower() for t in GGML_TYPES.values()}
    for item in export["tensor_types"]:
        pattern, qtype = item.split("=")  # llama-quantize splits at the first '='
        assert qtype in types and pattern == pattern.lower()
        re.compile(pattern)
    # llama.cpp applies every pattern with regex_search to each GGUF tensor name.
    for i, name in enumerate(names):
        for tensor in GGUF_TENSORS:
            hits = [t.split("=")[1].upper() for t in export["tensor_types"]
                    if re.search(t.split("=")[0], f"blk.{i}.{tensor}.weight")]
            expected = [] if plan.spec_of(name) == HIGH else [export["per_layer"][i]]
            assert hits == expected
    assert not any(re.search(t.split("=")[0], "v.blk.1.attn_q.weight")
                   for t in export["tensor_types"])


def test_save_refuses_a_plan_that_is_not_applied(llava, tmp_path):
    names = llava.adapter.block_names(llava.model)
    with pytest.raises(ValueError, match="apply the plan first"):
        save_quantized(llava.model, luq_plan(names), tmp_path)


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_saved_luq_folder_reloads_with_identical_answers(name, tmp_path):
    torch.manual_seed(0)
    loaded = load_model(name, device="cpu")
    names = loaded.adapter.block_names(loaded.model)
    plan = luq_plan(names)
    LayerVariantCache(loaded.model).apply(plan)
    image, question = picture(3), "how many shapes are there ?"
    inputs = build_inputs(loaded.processor, image, question)
    with torch.no_grad():
        logits = loaded.model(**inputs).logits
        answer = loaded.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    save_quantized(loaded.model, plan, tmp_path, loaded.processor)

    again, saved_plan = load_quantized(tmp_path)
    assert saved_plan == plan
    inputs2 = build_inputs(again.processor, image, question)
    assert all(torch.equal(inputs[k], inputs2[k]) for k in inputs)
    with torch.no_grad():
        assert torch.equal(again.model(**inputs2).logits, logits)
        assert torch.equal(again.model.generate(**inputs2, max_new_tokens=3, do_sample=False),
                           answer)

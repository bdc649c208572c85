"""llama.cpp types as quantization settings: the type table against ggml itself, the ``ggml``
method (bytes, read-back, fallbacks), and a plan of ggml types exported as the very bytes the
variant store holds."""

import gguf
import numpy as np
import pytest
import torch

from luq.apply import VariantStore
from luq.engines import ggml
from luq.export.gguf import compute_imatrix, export_gguf
from luq.memory import model_layout, plan_memory
from luq.models.adapters import adapter_for
from luq.models.prompting import build_inputs
from luq.models.tiny import tiny_config, tiny_processor
from luq.plan import BitPlan, LayerAssignment
from luq.quant import ggml_types
from luq.quant.registry import dequantize, quantize_weight, weight_nbytes
from luq.quant.spec import QuantSpec
from luq.quant.stats import InputStats
from tests.engines.lane_cases import non_finite
from tests.engines.tiny_gguf import SPECIALS, sp_tokenizer_dir
from tests.models.test_architectures import picture


def stats_for(n_in: int, seed: int = 0) -> InputStats:
    stats = InputStats(n_in, hessian=False, samples=False)
    stats.add_batch(torch.randn(64, n_in, generator=torch.Generator().manual_seed(seed)))
    return stats


def test_the_table_is_ggml_s_own():
    for row in ggml_types.TYPES.values():
        assert ggml.block_size(row.name) == row.block, row.name
        assert ggml.row_bytes(row.name, row.block * 3) == 3 * row.block_bytes, row.name
    assert ggml_types.ULTRA_LOW == ("Q1_0", "TQ1_0", "IQ1_S", "IQ1_M", "TQ2_0", "IQ2_XXS",
                                    "IQ2_XS", "Q2_K")
    assert ggml_types.get_type("IQ1_M").bits_per_weight == 1.75
    with pytest.raises(ValueError, match="unknown ggml type 'Q9_K'; known: F32"):
        ggml_types.get_type("Q9_K")


def test_stored_type_is_the_one_fallback_rule():
    assert ggml_types.stored_type("IQ1_M", 512) == "IQ1_M"
    assert ggml_types.stored_type("IQ1_M", 384) == "Q1_0"  # same bits, 128 block
    assert ggml_types.stored_type("IQ1_M", 96) == "IQ4_NL"  # llama.cpp's own
    assert ggml_types.stored_type("Q4_K", 128) == "Q4_0"
    assert ggml_types.stored_type("Q2_K", 128) == "Q4_0"
    assert ggml_types.stored_type("Q6_K", 100) == "F16"


def test_spec_of_a_type_validates_itself():
    spec = QuantSpec.ggml("IQ1_M")
    assert (spec.method, spec.bits, spec.group_size, spec.label) == ("ggml", 1, 256, "IQ1_M")
    assert BitPlan.from_json(BitPlan.uniform(["a"], spec).to_json()).specs() == [spec]
    with pytest.raises(ValueError, match="IQ1_M is 1 bits in blocks of 256"):
        QuantSpec("ggml", 2, 256, type="IQ1_M")
    with pytest.raises(ValueError, match="ggml needs a type; offered: Q1_0"):
        QuantSpec("ggml", 4, 256)
    with pytest.raises(ValueError, match="for method ggml"):
        QuantSpec("rtn", 4, 64, type="Q4_K")
    with pytest.raises(ValueError, match="not offered"):
        QuantSpec.ggml("Q4_0")


@pytest.mark.parametrize("name", ggml_types.OFFERED)
@pytest.mark.parametrize("n_in", [512, 384, 128])
def test_method_stores_ggml_bytes_and_reads_them_back(name, n_in):
    w = torch.randn(48, n_in, generator=torch.Generator().manual_seed(1))
    spec = QuantSpec.ggml(name)
    stats = stats_for(n_in)
    qw = quantize_weight(w, spec, stats)
    stored = ggml_types.stored_type(name, n_in)
    assert qw.nbytes == weight_nbytes((48, n_in), spec) == 48 * ggml.row_bytes(stored, n_in)
    expected = ggml.quantize(w.half().float().numpy(), stored, stats.sq_mean.numpy())
    assert np.array_equal(qw.tensors["blocks"].numpy(), expected)  # ggml's own bytes
    back = dequantize(qw)
    if stored in {t.name for t in gguf.GGMLQuantizationType} and stored != "Q1_0":
        from gguf.quants import dequantize as gguf_dequantize

        ref = gguf_dequantize(expected, gguf.GGMLQuantizationType[stored]).reshape(48, n_in)
        assert torch.equal(back, torch.from_numpy(ref))  # gguf-py reads the same floats
    error = ((back - w) ** 2).mean() / (w ** 2).mean()
    assert error < (0.8 if ggml_types.TYPES[name].bits <= 2 else 0.1)


def test_types_that_need_an_importance_matrix_say_so():
    with pytest.raises(ValueError, match="IQ2_XXS needs an importance matrix"):
        quantize_weight(torch.randn(8, 256), QuantSpec.ggml("IQ2_XXS"))
    quantize_weight(torch.randn(8, 256), QuantSpec.ggml("Q4_K"))  # fine without


def test_importance_matrix_is_the_mean_square_of_the_inputs():
    x = torch.randn(3, 10, 256)
    stats = InputStats(256, hessian=False, samples=False)
    stats.add_batch(x[:2])
    stats.add_batch(x[2:])
    assert torch.allclose(stats.sq_mean, (x.reshape(-1, 256) ** 2).mean(0))


PLAN_TYPES = ("IQ1_M", "IQ2_XXS", "Q2_K", "Q4_K")


def tiny_llava_256():
    """The registry's tiny LLaVA with a decoder every ggml block fits (rows 256 and 512)."""
    from transformers import AutoModelForImageTextToText

    config = tiny_config("tiny-random-llava")
    config.text_config.hidden_size, config.text_config.intermediate_size = 256, 512
    config.text_config.num_hidden_layers = len(PLAN_TYPES)
    config.text_config.head_dim = 256 // config.text_config.num_attention_heads
    torch.manual_seed(0)
    processor = tiny_processor("tiny-random-llava")
    batches = [build_inputs(processor, picture(i), q) for i, q in
               enumerate(["how many shapes are there ?", "what colour is the circle ?"])]
    return AutoModelForImageTextToText.from_config(config).eval(), processor, batches


def test_a_ggml_plan_exports_the_variant_bytes(tmp_path):
    """Accounted bytes = the GGUF's decoder tensor bytes, to the byte; every GGUF tensor of a
    block holds exactly the variant's rows (the converter reorders q/k rows for rotary)."""
    model, processor, batches = tiny_llava_256()
    names = adapter_for(model).block_names(model)
    plan = BitPlan(tuple(LayerAssignment(n, QuantSpec.ggml(t))
                         for n, t in zip(names, PLAN_TYPES)))
    accounted = plan_memory(model_layout(model), plan)
    store = VariantStore(model, calibration=batches, dense_limit=0)  # no dense copies
    full = store.resident_bytes(None) - sum(
        m.weight.numel() * 4 for b in store.originals.values() for m in b.modules()
        if isinstance(m, torch.nn.Linear))
    store.prepare(plan.specs())
    # resident = accounted: the variants hold ggml's blocks and nothing else
    assert store.resident_bytes(plan) - full == accounted.decoder_bytes
    imatrix = {**compute_imatrix(model, plan, batches), **store.imatrix}
    export = export_gguf(model, plan, tmp_path, processor, imatrix=imatrix, mmproj=False,
                         tokenizer_dir=sp_tokenizer_dir(tmp_path / "tok", SPECIALS["llava"]))
    assert not any("fell back" in n or "no exact" in n for n in export.notes), export.notes
    tensors = {t.name: t for t in gguf.GGUFReader(export.model).tensors}
    block_bytes = {i: 0 for i in range(len(names))}
    for tname, t in tensors.items():
        if tname.startswith("blk.") and len(t.data.shape) == 2:
            i = int(tname.split(".")[1])
            assert t.tensor_type.name == PLAN_TYPES[i], tname  # no Q6_K mixing, no mapping
            block_bytes[i] += int(t.n_bytes)
    assert list(block_bytes.values()) == list(accounted.per_layer)
    gguf_names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                  "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                  "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                  "mlp.down_proj": "ffn_down"}
    for i, name in enumerate(names):
        variant = store.variant(name, plan.layers[i].spec)
        for sub, short in gguf_names.items():
            ours = variant.get_submodule(sub).qweight.tensors["blocks"].numpy()
            theirs = np.asarray(tensors[f"blk.{i}.{short}.weight"].data).view(np.uint8)
            theirs = theirs.reshape(ours.shape)
            assert sorted(map(bytes, ours)) == sorted(map(bytes, theirs)), (name, sub)
            if short not in ("attn_q", "attn_k"):
                assert np.array_equal(ours, theirs), (name, sub)


@pytest.mark.parametrize("name", ["Q1_0", "Q4_K", "IQ4_XS"])
def test_reading_back_in_parallel_row_chunks_gives_the_same_floats(name):
    rows = ggml.PARALLEL_WEIGHTS // 1024 + 3  # odd: the chunks are unequal
    w = np.random.default_rng(2).standard_normal((rows, 1024)).astype(np.float32)
    blocks = ggml.quantize(w, name, np.ones(1024, np.float32))
    whole = ggml.dequantize(blocks, name, 1024, threads=1)
    assert np.array_equal(ggml.dequantize(blocks, name, 1024, threads=2), whole)
    assert np.array_equal(ggml.dequantize(blocks, name, 1024, threads=3), whole)


@pytest.mark.parametrize("name", ["IQ2_XS", "IQ1_M", "Q4_K", "Q8_0"])
@pytest.mark.parametrize("case", list(non_finite()))
def test_nan_or_infinity_is_refused_with_a_message_not_an_abort(case, name):
    """ggml's IQ2_XS search asserts a grid point was found, which a NaN error never is, and
    aborts the whole process (a public Space with it): the binding refuses first."""
    weight, imatrix = non_finite()[case]
    what = "weight" if "weight" in case else "importance matrix"
    with pytest.raises(ValueError, match=f"{name}: the {what} holds NaN or infinite"):
        ggml.quantize(np.tile(weight, (3, 1)), name, imatrix)


def test_a_negative_importance_is_refused():
    """A sign-mixed importance can make an IQ1_M sub-block's scale infinite; off the grid,
    ggml's search then finds no neighbour and aborts (found by review): refused first."""
    weight = np.random.default_rng(0).standard_normal((2, 256)).astype(np.float32)
    imatrix = np.ones(256, np.float32)
    imatrix[7] = -81
    with pytest.raises(ValueError, match="IQ1_M: the importance matrix has negative entries"):
        ggml.quantize(weight, "IQ1_M", imatrix)

"""Predicted decode speed: types as the export stores them, priced by a per-type cost table."""

import json

import pytest

from luq.memory import BlockLayout, ModelLayout
from luq.plan import BitPlan
from luq.quant.spec import QuantSpec
from luq.speed import (
    DecodeCosts,
    decode_ns,
    load_costs,
    q4_k_m,
    relative_speed,
    save_costs,
    speed_line,
    stored_tensors,
)

NAMES = ("self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj")


def layout(n: int = 8, width: int = 256) -> ModelLayout:
    blocks = tuple(BlockLayout(f"model.layers.{i}", tuple(
        (f"model.layers.{i}.{s}", (width, width)) for s in NAMES), 10) for i in range(n))
    return ModelLayout("llama", blocks, (("embeddings", 1000),),
                       (("embeddings", (1000, width)), ("lm_head", (1000, width))))


COSTS = DecodeCosts((("F16", 1.0), ("IQ1_M", 0.6), ("Q1_0", 0.1), ("Q4_0", 0.25),
                     ("Q4_K", 0.3), ("Q6_K", 0.4), ("Q8_0", 0.5)), 2,
                    "2026-12-04", "test machine", "test")


def test_q4_k_m_stores_q6_k_attn_v_and_ffn_down_where_llama_cpp_does():
    lay = layout()
    tensors = dict(stored_tensors(lay, q4_k_m(lay)))
    # use_more_bits(i, 8): blocks 0 and 7, and every third from 1 + 2 = 3
    assert [t for _, t in tensors[0]] == ["Q4_K", "Q6_K", "Q6_K"]
    assert [t for _, t in tensors[1]] == ["Q4_K", "Q4_K", "Q4_K"]
    assert tensors[-1] == [(256000, "Q6_K")]  # the output head
    assert relative_speed(lay, q4_k_m(lay), COSTS) == pytest.approx(1.0)


def test_ggml_settings_are_priced_exactly_and_row_fallbacks_follow_the_export():
    lay = layout()
    q1 = BitPlan.uniform(lay.block_names, QuantSpec.ggml("Q1_0"))
    assert {t for i, ts in stored_tensors(lay, q1) if i >= 0 for _, t in ts} == {"Q1_0"}
    assert relative_speed(lay, q1, COSTS) > 1.5
    slow = BitPlan.uniform(lay.block_names, QuantSpec("billm", 1))  # exported as IQ1_M
    assert relative_speed(lay, slow, COSTS) < 1.0
    narrow = layout(width=128)  # 256 does not divide: Q4_K -> Q4_0, as the export stores it
    q4 = BitPlan.uniform(narrow.block_names, QuantSpec.ggml("Q4_K"))
    assert {t for i, ts in stored_tensors(narrow, q4) if i >= 0 for _, t in ts} == {"Q4_0"}
    assert stored_tensors(narrow, q4)[-1] == (-1, [(128000, "Q8_0")])  # Q6_K -> Q8_0
    assert decode_ns(narrow, q4, COSTS) == pytest.approx(8 * 3 * 128 * 128 * 0.25
                                                         + 128000 * 0.5)


def test_a_type_missing_from_the_table_says_how_to_measure_it():
    lay = layout()
    plan = BitPlan.uniform(lay.block_names, QuantSpec.ggml("IQ2_XXS"))
    with pytest.raises(ValueError, match="benchmarks.decode_costs"):
        relative_speed(lay, plan, COSTS)
    assert "benchmarks.decode_costs" in speed_line(lay, plan, COSTS)
    assert "1.00x uniform Q4_K_M" in speed_line(lay, q4_k_m(lay), COSTS)
    assert "test machine" in speed_line(lay, q4_k_m(lay), COSTS)


def test_this_machines_table_comes_before_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LUQ_CACHE_DIR", str(tmp_path))
    shipped = load_costs()
    assert shipped is not None and "Q4_K" in dict(shipped.ns_per_weight)  # assets/
    path = save_costs(COSTS)
    assert path.parent == tmp_path and load_costs() == COSTS
    assert DecodeCosts.from_dict(json.loads(path.read_text())) == COSTS

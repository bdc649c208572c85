"""What-if estimates from configs alone: how many blocks must go ultra-low for a budget."""

import pytest

from luq.estimate import block_bytes, reference_points, ultra_low_needed
from luq.memory import BlockLayout, ModelLayout, model_layout, plan_memory
from luq.models.loading import build_meta_model
from luq.plan import BitPlan
from luq.quant.spec import QuantSpec

HIGH = QuantSpec("rtn", 4, 64)
LOW = QuantSpec("billm", 1, 0)


@pytest.fixture(scope="module")
def llava_7b():
    return model_layout(build_meta_model("llava-hf/llava-1.5-7b-hf"))


def test_budget_gives_the_smallest_count_that_fits(llava_7b):
    out = ultra_low_needed(llava_7b, 3_500_000_000, HIGH, LOW)
    assert out["fits"] and out["equal_blocks"] and out["which_layers"] is None
    assert "profile" in out["note"]
    n, names = out["n_low"], llava_7b.block_names
    assert out["total_bytes"] <= 3_500_000_000 < plan_memory(
        llava_7b, BitPlan.mixed(names, HIGH, LOW, names[: n - 1])).total_bytes
    assert out["memory"]["avg_bits"] == out["avg_bits"] < 4.5


def test_budget_extremes(llava_7b):
    roomy = ultra_low_needed(llava_7b, 10**11, HIGH, LOW)
    assert roomy["fits"] and roomy["n_low"] == 0
    tight = ultra_low_needed(llava_7b, 10**9, HIGH, LOW)
    assert not tight["fits"] and tight["n_low"] is None
    assert tight["total_bytes"] == tight["min_bytes"] > 10**9


def test_unequal_blocks_assume_the_worst_case():
    blocks = tuple(BlockLayout(f"m.layers.{i}", ((f"m.layers.{i}.fc", (64, 64 * (i + 1))),), 0)
                   for i in range(4))
    layout = ModelLayout("toy", blocks, (("embeddings", 1000),))
    high = sum(block_bytes(layout, HIGH)) + 2000
    budget = high - sum(sorted(h - lo for h, lo in zip(block_bytes(layout, HIGH),
                                                        block_bytes(layout, LOW)))[:2])
    out = ultra_low_needed(layout, budget, HIGH, LOW)
    assert not out["equal_blocks"] and "worst case" in out["note"]
    assert out["n_low"] == 2 and out["total_bytes"] == budget


def test_reference_points_order(llava_7b):
    parts = {"embeddings": QuantSpec("rtn", 4, 64), "lm_head": QuantSpec("rtn", 6, 64)}
    ref = reference_points(llava_7b, 16, HIGH, LOW, parts)
    assert ref["fp16"]["total_bytes"] > ref["uniform"]["total_bytes"] > ref["luq"]["total_bytes"]
    assert all(r["llm_bytes"] < r["total_bytes"] for r in ref.values())
    assert ref["fp16"]["avg_bits"] == 16.0

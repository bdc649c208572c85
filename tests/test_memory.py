import pytest

from luq.apply import quantize_block
from luq.memory import measured_nbytes, model_layout, plan_memory
from luq.plan import BitPlan
from luq.quant import QuantSpec
from luq.quant.spec import FULL_PRECISION


@pytest.mark.parametrize("spec", [QuantSpec("rtn", 4, 32), QuantSpec("rtn", 2, 16),
                                  QuantSpec("billm", 1, 32), QuantSpec("rtn", 3, 0)],
                         ids=lambda s: s.label)
def test_accounting_equals_measured_bytes(tiny_llava, spec):
    import copy

    model = copy.deepcopy(tiny_llava.model)
    adapter = tiny_llava.adapter
    layout = model_layout(model, adapter)
    blocks = adapter.blocks(model)
    low = layout.block_names[::2]
    plan = BitPlan.mixed(layout.block_names, QuantSpec("rtn", 8, 32), spec, low)
    for i, name in enumerate(layout.block_names):
        blocks[i] = quantize_block(blocks[i], name, plan.spec_of(name))
    assert measured_nbytes(model) == plan_memory(layout, plan).total_bytes


def test_full_precision_plan_equals_model_bytes(tiny_llava):
    layout = model_layout(tiny_llava.model)
    report = plan_memory(layout, BitPlan.uniform(layout.block_names, FULL_PRECISION))
    assert report.total_bytes == measured_nbytes(tiny_llava.model)
    assert report.avg_bits == 16.0


def test_breakdown_adds_up(tiny_llava):
    layout = model_layout(tiny_llava.model)
    r = plan_memory(layout, BitPlan.uniform(layout.block_names, QuantSpec("rtn", 4, 32)))
    assert r.total_bytes == r.decoder_bytes + r.full_precision_bytes
    assert sum(r.breakdown.values()) == r.total_bytes
    assert r.breakdown["decoder_codes"] == layout.decoder_linear_params // 2
    # 4-bit codes + fp16 scale and zero per 32 weights = 5 bits
    assert r.avg_bits == pytest.approx(5.0)
    assert {"vision", "projector", "embeddings", "lm_head"} <= set(r.breakdown)


def test_memory_falls_with_bits(tiny_llava):
    layout = model_layout(tiny_llava.model)
    totals = [plan_memory(layout, BitPlan.uniform(layout.block_names, QuantSpec("rtn", b, 32)))
              .total_bytes for b in (8, 4, 3, 2, 1)]
    assert totals == sorted(totals, reverse=True)

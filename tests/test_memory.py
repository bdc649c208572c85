import pytest
import torch

from luq.apply import quantize_block
from luq.memory import measured_nbytes, model_layout, plan_memory, resident_weight_bytes
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


SPECS = [QuantSpec("rtn", 4, 32), QuantSpec("rtn", 3, 0), QuantSpec("gptq", 4, 32),
         QuantSpec("awq", 4, 32), QuantSpec("billm", 1, 32),
         QuantSpec("billm", 1, 0, split=False), FULL_PRECISION]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_resident_bytes_equal_accounting_for_every_method(tiny_llava, tiny_batches, dtype):
    """With dense caches off, the applied model holds exactly what the plan accounts (its
    full-precision parts at the model's own width)."""
    import copy

    from luq.apply import VariantStore

    model = copy.deepcopy(tiny_llava.model).to(dtype)
    layout = model_layout(model, tiny_llava.adapter)
    store = VariantStore(model, tiny_llava.adapter, cache_dense=False,
                         calibration=tiny_batches[:2])
    names = layout.block_names
    extra = dtype.itemsize - 2  # bytes per full-precision value beyond the accounted fp16
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())  # e.g. rotary
    for i, spec in enumerate(SPECS):
        plan = BitPlan.mixed(names, spec, SPECS[i - 1], names[::2])
        store.apply(plan)
        report = plan_memory(layout, plan)
        kept = sum(b.linear_params for b, s in zip(layout.blocks, plan.specs())
                   if s == FULL_PRECISION)  # fp16 blocks: decoder bytes, held in `dtype`
        fp_values = report.full_precision_bytes // 2 + kept
        assert resident_weight_bytes(model) == report.total_bytes + fp_values * extra + buffers
    with torch.no_grad():
        model(**{k: v.to(dtype) if v.is_floating_point() else v
                 for k, v in tiny_batches[0].items()})
    assert store.dense.nbytes == 0  # still nothing dense after a forward pass
    assert resident_weight_bytes(model) == report.total_bytes + fp_values * extra + buffers


def test_resident_bytes_count_dense_caches_and_shared_tensors_once(tiny_llava, tiny_batches):
    import copy

    from luq.apply import VariantStore

    model = copy.deepcopy(tiny_llava.model)
    before = resident_weight_bytes(model)
    assert before == sum(t.numel() * t.element_size()
                         for t in [*model.parameters(), *model.buffers()])
    store = VariantStore(model, tiny_llava.adapter, dense_limit=None)
    store.apply(BitPlan.uniform(store.names, QuantSpec("rtn", 4, 32)))
    packed = resident_weight_bytes(model)
    with torch.no_grad():
        model(**tiny_batches[0])
    assert store.dense.nbytes > 0
    assert resident_weight_bytes(model) == packed + store.dense.nbytes


def test_process_memory_figures():
    from luq.resources import available_memory_bytes, peak_rss_bytes, process_rss_bytes

    rss = process_rss_bytes()
    assert 10e6 < rss <= peak_rss_bytes()
    available = available_memory_bytes()
    assert available is None or available > 0

import copy

import torch

from luq.apply import LayerVariantCache
from luq.plan import BitPlan
from luq.quant import QuantLinear, QuantSpec

HIGH, LOW = QuantSpec("rtn", 4, 32), QuantSpec("billm", 1, 32)


def test_plan_switching_performs_no_quantization(tiny_llava, tiny_batches):
    model = copy.deepcopy(tiny_llava.model)
    cache = LayerVariantCache(model)
    names = cache.names
    with torch.no_grad():
        reference = model(**tiny_batches[0]).logits
    cache.prepare([HIGH, LOW])
    calls = cache.quantize_calls
    assert calls == 2 * len(names)
    outputs = []
    for k in range(len(names) + 1):
        cache.apply(BitPlan.mixed(names, HIGH, LOW, names[:k]))
        with torch.no_grad():
            outputs.append(model(**tiny_batches[0]).logits)
    cache.apply(BitPlan.mixed(names, HIGH, LOW, names[:2]))
    assert cache.quantize_calls == calls  # every switch was a swap
    assert torch.allclose(model(**tiny_batches[0]).logits, outputs[2])
    cache.restore()
    with torch.no_grad():
        assert torch.equal(model(**tiny_batches[0]).logits, reference)
    assert not any(isinstance(m, QuantLinear) for m in model.modules())


def test_applied_plan_has_the_right_modules(tiny_llava):
    model = copy.deepcopy(tiny_llava.model)
    cache = LayerVariantCache(model)
    names = cache.names
    cache.apply(BitPlan.mixed(names, HIGH, LOW, names[1:2]))
    specs = [m.spec for m in model.modules() if isinstance(m, QuantLinear)]
    assert specs.count(LOW) == 7 and specs.count(HIGH) == 7 * (len(names) - 1)


def test_gptq_needs_statistics(tiny_llava):
    import pytest

    cache = LayerVariantCache(copy.deepcopy(tiny_llava.model))
    with pytest.raises(ValueError, match="calibration statistics"):
        cache.variant(cache.names[0], QuantSpec("gptq", 4, 32))


def _store(tiny_llava, **kw):
    from luq.apply import VariantStore

    return VariantStore(copy.deepcopy(tiny_llava.model), tiny_llava.adapter, **kw)


def _qlinears(module):
    return [m for m in module.modules() if isinstance(m, QuantLinear)]


def _logits(store, batches):
    with torch.no_grad():
        return [store.model(**b).logits for b in batches]


PER_CHANNEL = QuantSpec("billm", 1, 0, split=False)


def test_calibration_is_streamed_once_and_its_statistics_freed(tiny_llava, tiny_batches,
                                                               monkeypatch):
    import gc
    import weakref

    import luq.statistics
    from luq.quant import InputStats
    from luq.statistics import collect_statistics

    made = []

    class Tracked(InputStats):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(weakref.ref(self))

    monkeypatch.setattr(luq.statistics, "InputStats", Tracked)
    calls = []
    store = _store(tiny_llava, calibration=lambda: calls.append(1) or tiny_batches)
    gptq = QuantSpec("gptq", 4, 32)
    store.prepare([HIGH, PER_CHANNEL, gptq])
    assert calls == [1] and store.quantize_calls == 3 * len(store.names)
    gc.collect()
    assert made and all(ref() is None for ref in made)  # every block's statistics freed
    assert store.stats is None and store.seconds["statistics"] > 0
    # the streamed variants are those built from statistics collected up front
    stats = collect_statistics(store.model, store.adapter, tiny_batches, [PER_CHANNEL, gptq])
    reference = _store(tiny_llava, stats=stats)
    for spec in (PER_CHANNEL, gptq):
        for name in store.names:
            ours = _qlinears(store.variant(name, spec))
            theirs = _qlinears(reference.variant(name, spec))
            assert all(torch.equal(a, b) for x, y in zip(ours, theirs)
                       for a, b in zip(x.buffers(), y.buffers()))


def test_lazy_variants_stream_the_calibration_once_per_setting(tiny_llava, tiny_batches):
    calls = []
    store = _store(tiny_llava, calibration=lambda: calls.append(1) or tiny_batches)
    names = store.names
    for k in range(len(names) + 1):
        store.apply(BitPlan.mixed(names, HIGH, PER_CHANNEL, names[:k]))
    assert calls == [1] and store.quantize_calls == 2 * len(names)


def test_variants_share_full_precision_tensors(tiny_llava):
    store = _store(tiny_llava)
    name = store.names[0]
    original = {id(t) for t in store.originals[name].parameters()}
    variant = store.variant(name, HIGH)
    fp = [p for p in variant.parameters()]  # norms (and biases): not quantized
    assert fp and all(id(p) in original for p in fp)


def test_bounded_dense_cache_holds_only_blocks_in_use_and_answers_identically(tiny_llava,
                                                                                tiny_batches):
    names = _store(tiny_llava).names
    plans = [BitPlan.mixed(names, HIGH, LOW, names[:k]) for k in (0, 3, len(names))]
    unbounded = _store(tiny_llava, dense_limit=None)
    one_block = sum(m.weight.numel() * 4 for m in unbounded.originals[names[0]].modules()
                    if isinstance(m, torch.nn.Linear))
    for limit in (0, one_block + 1, 3 * one_block):
        store = _store(tiny_llava, dense_limit=limit)
        for plan in plans + plans[::-1]:
            unbounded.apply(plan)
            store.apply(plan)
            expected = _logits(unbounded, tiny_batches[:2])
            got = _logits(store, tiny_batches[:2])
            assert all(torch.equal(a, b) for a, b in zip(got, expected))
            assert store.dense.nbytes <= limit
            in_use = {id(m) for block in store.blocks for m in _qlinears(block)}
            assert all(id(m) in in_use for m in store.dense._owners)
    assert unbounded.dense.nbytes > 3 * one_block  # unbounded keeps every variant's weights


def test_default_dense_limit_is_unbounded_for_small_models_only(tiny_llava):
    from transformers import AutoModelForImageTextToText

    from luq.apply import DENSE_SHARE, default_dense_limit
    from luq.models.tiny import tiny_llava_config

    assert default_dense_limit(tiny_llava.model) is None
    config = tiny_llava_config(22)
    text = config.text_config
    text.hidden_size, text.intermediate_size, text.head_dim = 2048, 5632, 64
    text.num_attention_heads, text.num_key_value_heads = 32, 4
    with torch.device("meta"):
        big = AutoModelForImageTextToText.from_config(config)
    dense = 22 * (2 * 2048 * 2048 + 2 * 2048 * 256 + 3 * 2048 * 5632) * 4
    assert 0 < default_dense_limit(big) <= DENSE_SHARE * dense


def test_resident_bytes_of_a_plan_are_counted_without_applying_it(tiny_llava, tiny_batches):
    from luq.memory import resident_weight_bytes

    model = copy.deepcopy(tiny_llava.model)
    cache = LayerVariantCache(model)
    low, high = QuantSpec("rtn", 2, 32), QuantSpec("rtn", 4, 32)
    plan = BitPlan.mixed(cache.names, high, low, cache.names[:1])
    cache.apply(plan)
    with torch.no_grad():
        model(**tiny_batches[0])  # dense caches filled: they count too
    applied = resident_weight_bytes(model)
    cache.restore()
    assert cache.resident_bytes(plan) == applied  # counted while full precision is in place
    assert cache.current is None
    assert cache.resident_bytes(None) == resident_weight_bytes(model)

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

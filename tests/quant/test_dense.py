import pytest
import torch
from torch import nn

from luq.quant import QuantLinear, QuantSpec
from luq.quant.dense import DenseCache

SPECS = [QuantSpec("rtn", 4, 16), QuantSpec("rtn", 3, 0), QuantSpec("billm", 1, 0, split=False),
         QuantSpec("billm", 1, 16)]


def _layers(cache, n=6, shape=(48, 64)):
    torch.manual_seed(0)
    return [QuantLinear.from_linear(nn.Linear(shape[1], shape[0]), SPECS[i % len(SPECS)],
                                    cache_dense=cache) for i in range(n)]


def _run(layers, x):
    return [layer(x) for layer in layers]


def test_bounded_cache_never_exceeds_its_limit_and_answers_identically():
    x = torch.randn(3, 64)
    reference = _run(_layers(True), x)  # every layer cached for good
    one = 48 * 64 * 4
    for limit in (0, one - 1, one, 2 * one + 7, None):
        cache = DenseCache(limit)
        layers = _layers(cache)
        for _ in range(3):  # a cycle over the layers, as forward passes make
            out = _run(layers, x)
            assert limit is None or cache.nbytes <= limit
            assert all(torch.equal(a, b) for a, b in zip(out, reference))
        cached = sum(layer._dense is not None for layer in layers)
        assert cached == (6 if limit is None else limit // one)
        assert cache.nbytes == cached * one


def test_a_full_cache_keeps_its_entries_and_rebuilds_the_rest_in_scratch():
    cache = DenseCache(2 * 48 * 64 * 4)
    layers = _layers(cache)
    x = torch.randn(2, 64)
    _run(layers, x)
    first = cache.dequantizations
    assert first == 6
    _run(layers, x)
    assert cache.dequantizations == first + 4  # the two cached layers hit
    assert layers[0]._dense is not None and layers[1]._dense is not None


def test_retain_drops_entries_of_layers_not_in_use():
    cache = DenseCache(None)
    layers = _layers(cache)
    _run(layers, torch.randn(1, 64))
    cache.retain(layers[:2])
    assert [layer._dense is not None for layer in layers] == [True, True] + [False] * 4
    assert cache.nbytes == 2 * 48 * 64 * 4
    cache.clear()
    assert cache.nbytes == 0 and layers[0]._dense is None


def test_dequantizes_into_the_input_dtype():
    cache = DenseCache(0)
    layer = _layers(cache, 1)[0]
    x = torch.randn(2, 64)
    out = layer(x.bfloat16())
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), layer(x), atol=0.1, rtol=0.05)


def test_negative_limit_is_refused():
    with pytest.raises(ValueError, match=">= 0"):
        DenseCache(-1)

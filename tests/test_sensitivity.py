import copy

import pytest
import torch

from luq.apply import LayerVariantCache
from luq.plan import BitPlan
from luq.quant import QuantSpec
from luq.quant.spec import FULL_PRECISION
from luq.select import layer_order
from luq.sensitivity import bootstrap_spearman, probe, spearman

LOW, HIGH = QuantSpec("billm", 1, 32), QuantSpec("rtn", 8, 32)
FRAGILE = 3


@pytest.fixture
def toy(tiny_llava):
    """The tiny LLaVA with block 3 built to be fragile: it carries the residual stream (large
    output weights) while every other block writes almost nothing into it."""
    model = copy.deepcopy(tiny_llava.model)
    with torch.no_grad():
        for i, layer in enumerate(model.model.language_model.layers):
            factor = 5.0 if i == FRAGILE else 0.05
            layer.mlp.down_proj.weight.mul_(factor)
            layer.self_attn.o_proj.weight.mul_(factor)
    return LayerVariantCache(model)


def test_probe_finds_the_fragile_layer(toy, tiny_batches):
    sens = probe(toy, tiny_batches, LOW, HIGH)
    assert max(range(len(sens.kl)), key=lambda i: sens.kl[i]) == FRAGILE
    assert all(k >= 0 for k in sens.kl)
    assert len(sens.per_sample[0]) == len(tiny_batches)


def test_unchanged_model_has_zero_kl(toy, tiny_batches):
    sens = probe(toy, tiny_batches, FULL_PRECISION)
    assert sens.base_kl == pytest.approx(0.0, abs=1e-7)
    assert max(sens.kl) == pytest.approx(0.0, abs=1e-7)


def test_probe_is_swaps_only_and_restores_the_plan(toy, tiny_batches):
    toy.prepare([LOW, HIGH])
    calls = toy.quantize_calls
    plan = BitPlan.uniform(toy.names, HIGH)
    toy.apply(plan)
    probe(toy, tiny_batches, LOW, HIGH)
    assert toy.quantize_calls == calls and toy.current == plan


def test_sensitivity_order_never_worse_than_random(toy, tiny_batches):
    from luq.sensitivity import _kl, _log_probs

    sens = probe(toy, tiny_batches, LOW, HIGH)
    toy.restore()
    reference = [_log_probs(toy.model, b)[0] for b in tiny_batches]

    def damage(order, n):
        toy.apply(BitPlan.mixed(toy.names, HIGH, LOW, order[:n]))
        return sum(_kl(r, _log_probs(toy.model, b)[0]) for r, b in zip(reference, tiny_batches))

    by_sens = layer_order(toy.names, "sensitivity", list(sens.kl))
    for n in range(1, len(toy.names)):
        randoms = [damage(layer_order(toy.names, "random", seed=s), n) for s in range(5)]
        assert damage(by_sens, n) <= sum(randoms) / len(randoms) + 1e-9


def test_spearman_and_bootstrap():
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    per_sample = tuple(tuple(float(i + j % 2) for j in range(10)) for i in range(5))
    rho, lo, hi = bootstrap_spearman([5, 4, 3, 2, 1], per_sample)
    assert rho == pytest.approx(-1.0) and lo <= rho <= hi


def test_probe_under_a_tight_memory_limit_gives_the_same_damage(toy, tiny_batches):
    from luq.memlimit import MemoryLimit, limited
    from luq.resources import process_rss_bytes
    from luq.sensitivity import _groups

    free = probe(toy, tiny_batches, LOW, HIGH)
    tight = MemoryLimit(process_rss_bytes() + (1 << 20), "cpu", "test")
    with limited(tight):
        groups, on_device = _groups(toy.model, tiny_batches)
        limited_run = probe(toy, tiny_batches, LOW, HIGH)
    assert len(groups) == len(tiny_batches) > 1 and not on_device  # one sample at a time
    assert _groups(toy.model, tiny_batches)[0] == [list(tiny_batches)]  # no limit: one group
    assert limited_run.kl == free.kl and limited_run.base_kl == free.base_kl  # the same math


def test_collated_forward_gives_each_sample_its_own_distribution(tiny_llava, tiny_batches):
    """The GPU probe's batched forward: right padding leaves every real position as alone."""
    from luq.sensitivity import _collate, _log_probs

    for has_image in (True, False):
        group = [b for b in tiny_batches if ("pixel_values" in b) == has_image]
        assert len(group) > 1
        together = _log_probs(tiny_llava.model, _collate(group, pad_id=0))
        for i, sample in enumerate(group):
            alone = _log_probs(tiny_llava.model, sample)[0]
            assert torch.allclose(together[i, :alone.shape[0]], alone, atol=1e-4)

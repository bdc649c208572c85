import pytest
import torch

from luq.quant import InputStats, QuantSpec, dequantize, effective_bits, quantize_weight
from luq.quant.binarize import binarize


def test_reconstruction_better_than_plain_sign(weight):
    plain = weight.abs().mean(1, keepdim=True) * weight.sign()
    r = binarize(weight, 32, 0.1, split=True)
    assert float(((r["w_hat"] - weight) ** 2).mean()) < float(((plain - weight) ** 2).mean())


def test_salient_and_split_each_help(weight):
    def err(**kw):
        return float(((binarize(weight, 32, **kw)["w_hat"] - weight) ** 2).mean())
    assert err(salient_fraction=0.1, split=False) < err(salient_fraction=0.0, split=False)
    assert err(salient_fraction=0.1, split=True) < err(salient_fraction=0.1, split=False)


def test_stored_form_decodes_to_the_reconstruction(weight, correlated_inputs):
    stats = InputStats(128)
    stats.add_batch(correlated_inputs)
    for split in (True, False):
        spec = QuantSpec("billm", 1, 32, split=split)
        qw = quantize_weight(weight, spec, stats)
        r = binarize(weight, 32, spec.salient_fraction, split, stats.hessian)
        assert torch.allclose(dequantize(qw), r["w_hat"], atol=1e-6)


def test_hessian_feedback_lowers_output_error(weight, correlated_inputs):
    stats = InputStats(128)
    stats.add_batch(correlated_inputs)
    x = correlated_inputs
    with_h = dequantize(quantize_weight(weight, QuantSpec("billm", 1, 32), stats))
    without = dequantize(quantize_weight(weight, QuantSpec("billm", 1, 32)))
    assert float(((x @ with_h.T - x @ weight.T) ** 2).mean()) < float(
        ((x @ without.T - x @ weight.T) ** 2).mean())


def test_effective_bits_are_reported_honestly():
    per_channel = QuantSpec("billm", 1, 0, salient_fraction=0.05, split=False)
    # 1 sign bit + 5 % residual bits + column bitmap + 3 fp16 scales per row
    assert effective_bits((4096, 4096), per_channel) == pytest.approx(1.05 + 1 / 4096 + 48 / 4096,
                                                                      abs=1e-3)
    assert effective_bits((4096, 4096), QuantSpec("billm", 1, 0)) > 2.0  # split bitmap


def test_error_ladder_binary_then_rtn(weight):
    """The ultra-low setting sits between 1-bit and 3-bit RTN in error."""
    def err(spec):
        return float(((dequantize(quantize_weight(weight, spec)) - weight) ** 2).mean())
    assert err(QuantSpec("rtn", 1, 32)) > err(QuantSpec("billm", 1, 32)) > err(
        QuantSpec("rtn", 3, 32))

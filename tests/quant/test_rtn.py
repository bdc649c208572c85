import pytest
import torch

from luq.quant import QuantSpec, dequantize, quantize_weight
from luq.quant.rtn import fake_quantize_rtn, rtn_quantize


def _err(a, b):
    return float(((a - b) ** 2).mean())


@pytest.mark.parametrize("group_size", [0, 16, 32, 128])
def test_error_falls_as_bits_rise(weight, group_size):
    errors = [_err(fake_quantize_rtn(weight, b, group_size), weight) for b in range(1, 9)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-6


def test_codes_in_range_and_groups(weight):
    codes, scale, zero = rtn_quantize(weight, 3, 32)
    assert codes.min() >= 0 and codes.max() <= 7
    assert scale.shape == zero.shape == (96, 4)


def test_error_bounded_by_half_step(weight):
    codes, scale, zero = rtn_quantize(weight, 4, 32)
    step = scale.repeat_interleave(32, 1)
    assert ((fake_quantize_rtn(weight, 4, 32) - weight).abs() <= step * 0.5 + 1e-4).all()


def test_idempotent(weight):
    once = fake_quantize_rtn(weight, 3, 32)
    twice = fake_quantize_rtn(once, 3, 32)
    assert torch.allclose(once, twice, atol=1e-4)


def test_stored_matches_fake_quant(weight):
    qw = quantize_weight(weight, QuantSpec("rtn", 4, 32))
    assert torch.allclose(dequantize(qw), fake_quantize_rtn(weight, 4, 32), atol=1e-6)


def test_group_size_must_divide(weight):
    with pytest.raises(ValueError, match="does not divide"):
        quantize_weight(weight, QuantSpec("rtn", 4, 48))


def test_matches_hqq_reference(weight):
    """hqq's min-max quantizer (optimize=False) is the same RTN; compare reconstructions."""
    hqq = pytest.importorskip("hqq.core.quantize")
    for bits in (2, 3, 4, 8):
        w_q, meta = hqq.Quantizer.quantize(weight.clone(), nbits=bits, group_size=32,
                                           optimize=False, axis=1, compute_dtype=torch.float32,
                                           device="cpu", bitpack=False)
        theirs = hqq.Quantizer.dequantize(w_q, meta).float().reshape(weight.shape)
        ours = fake_quantize_rtn(weight, bits, 32)
        assert _err(ours, weight) == pytest.approx(_err(theirs, weight), rel=0.05)

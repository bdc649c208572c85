import pytest
import torch

from luq.quant import InputStats, QuantSpec, dequantize, quantize_weight
from luq.quant.rtn import fake_quantize_rtn


def _out_err(w_hat, w, x):
    return float(((x @ w_hat.T - x @ w.T) ** 2).mean())


@pytest.fixture
def stats(correlated_inputs):
    s = InputStats(128)
    for chunk in correlated_inputs.split(256):
        s.add_batch(chunk)
    return s


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("act_order", [False, True])
def test_output_error_below_rtn(weight, correlated_inputs, stats, bits, act_order):
    spec = QuantSpec("gptq", bits, 32, act_order=act_order)
    gptq = dequantize(quantize_weight(weight, spec, stats))
    rtn = fake_quantize_rtn(weight, bits, 32)
    assert _out_err(gptq, weight, correlated_inputs) < _out_err(rtn, weight, correlated_inputs)


def test_error_falls_as_bits_rise(weight, correlated_inputs, stats):
    errs = [_out_err(dequantize(quantize_weight(weight, QuantSpec("gptq", b, 32), stats)),
                     weight, correlated_inputs) for b in (2, 3, 4, 8)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs


def test_hessian_matches_definition(correlated_inputs, stats):
    x = correlated_inputs
    assert torch.allclose(stats.hessian, 2 * x.T @ x / x.shape[0], rtol=1e-4, atol=1e-3)


def test_needs_calibration(weight):
    with pytest.raises(ValueError, match="calibration"):
        quantize_weight(weight, QuantSpec("gptq", 4, 32))


def test_one_bit_is_refused():
    with pytest.raises(ValueError, match="supported: 2, 3"):
        QuantSpec("gptq", 1, 32)

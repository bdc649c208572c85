import torch

from luq.quant import InputStats, QuantSpec, dequantize, quantize_weight
from luq.quant.rtn import fake_quantize_rtn


def test_no_worse_than_rtn_with_outlier_channels(weight):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(512, 128, generator=g)
    x[:, :6] *= 40.0  # outlier input channels, as in LLM activations
    stats = InputStats(128)
    stats.add_batch(x)
    awq = quantize_weight(weight, QuantSpec("awq", 4, 32), stats)
    rtn = fake_quantize_rtn(weight, 4, 32)
    err_awq = float(((x @ dequantize(awq).T - x @ weight.T) ** 2).mean())
    err_rtn = float(((x @ rtn.T - x @ weight.T) ** 2).mean())
    assert err_awq <= err_rtn
    assert err_awq < 0.8 * err_rtn  # the outliers give it room to actually help
    assert awq.tensors["in_scale"].shape == (128,)

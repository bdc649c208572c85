import pytest
import torch
from torch import nn

from luq.quant import InputStats, QuantLinear, QuantSpec, weight_nbytes
from luq.quant.spec import FULL_PRECISION

SPECS = [QuantSpec("rtn", b, g) for b in (1, 2, 3, 4, 8) for g in (0, 16)] + [
    QuantSpec("gptq", 2, 16), QuantSpec("awq", 4, 16), QuantSpec("billm", 1, 16),
    QuantSpec("billm", 1, 0, split=False), FULL_PRECISION]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label + ("" if s.split else "-nosplit"))
@pytest.mark.parametrize("shape", [(48, 64), (37, 80)])
def test_stored_bytes_equal_accounting(spec, shape):
    torch.manual_seed(0)
    lin = nn.Linear(shape[1], shape[0], bias=True)
    stats = InputStats(shape[1])
    stats.add_batch(torch.randn(256, shape[1]))
    q = QuantLinear.from_linear(lin, spec, stats)
    bias_bytes = shape[0] * 4
    assert q.stored_nbytes() == weight_nbytes(shape, spec) + bias_bytes
    state_bytes = sum(t.numel() * t.element_size() for k, t in q.state_dict().items()
                      if k.startswith("q_"))
    assert state_bytes == weight_nbytes(shape, spec)


def test_forward_matches_dequantized_linear():
    torch.manual_seed(0)
    lin = nn.Linear(64, 32)
    q = QuantLinear.from_linear(lin, QuantSpec("rtn", 8, 16))
    x = torch.randn(5, 7, 64)
    assert torch.allclose(q(x), lin(x), atol=2e-2)
    assert q(x).shape == (5, 7, 32)
    assert "rtn-8b-g16" in repr(q)


def test_dense_cache_is_used_only_when_asked():
    lin = nn.Linear(32, 16)
    q = QuantLinear.from_linear(lin, QuantSpec("rtn", 4, 16), cache_dense=True)
    q(torch.randn(2, 32))
    assert q._dense is not None
    q2 = QuantLinear.from_linear(lin, QuantSpec("rtn", 4, 16))
    q2(torch.randn(2, 32))
    assert q2._dense is None

import torch

from luq.quant import InputStats, QuantSpec
from luq.quant.hessian import inverse_cholesky_diag
from luq.quant.registry import stats_needs
from luq.quant.stats import StatsNeeds


def test_buffered_hessian_equals_its_definition_at_any_time():
    torch.manual_seed(0)
    chunks = [torch.randn(n, 40) for n in (3, 200, 7, 1, 90)]
    s = InputStats(40)
    for i, chunk in enumerate(chunks):
        s.add_batch(chunk.unsqueeze(0))  # (1, n, in): any leading shape
        x = torch.cat(chunks[: i + 1])
        assert torch.allclose(s.hessian, 2 * x.T @ x / x.shape[0], rtol=1e-5, atol=1e-5)
    assert s.rows == sum(c.shape[0] for c in chunks)


def test_reduce_keeps_only_what_is_needed(correlated_inputs):
    s = InputStats(128)
    s.add_batch(correlated_inputs)
    full = s.nbytes
    H = s.hessian.clone()
    s.reduce(StatsNeeds(hinv_diag=frozenset({0.01})))
    assert s.hessian is None and s.samples.numel() == 0
    assert s.nbytes == 128 * 4 < full // 100
    assert torch.equal(s.hinv_diag(0.01), inverse_cholesky_diag(H, 0.01))
    assert s.hinv_diag(0.02) is None  # not kept, and nothing to compute it from


def test_needs_of_each_method():
    assert not stats_needs([QuantSpec("rtn", 4, 64)])
    assert stats_needs([QuantSpec("gptq", 4, 64)]) == StatsNeeds(hessian=True)
    assert stats_needs([QuantSpec("awq", 4, 64)]) == StatsNeeds(samples=True)
    per_channel = stats_needs([QuantSpec("billm", 1, 0, split=False)])
    assert per_channel == StatsNeeds(hinv_diag=frozenset({0.01}))
    assert per_channel.accumulates_hessian and not per_channel.hessian
    both = stats_needs([QuantSpec("billm", 1, 0), QuantSpec("billm", 1, 0, damp=0.1),
                        QuantSpec("awq", 4, 64)])
    assert both == StatsNeeds(samples=True, hinv_diag=frozenset({0.01, 0.1}))


def test_not_kept_parts_are_not_collected():
    s = InputStats(16, hessian=False, samples=False)
    s.add_batch(torch.randn(50, 16))
    assert s.hessian is None and s.samples.shape == (0, 16) and s.rows == 50
    assert s.nbytes == 16 * 8  # only the sums of x**2 (the importance matrix)

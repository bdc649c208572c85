import torch

from luq.quant.hessian import damped_hessian, inverse_cholesky, inverse_cholesky_diag


def _reference(H):
    """GPTQ's reference: cholesky(cholesky_inverse(cholesky(H)), upper=True)."""
    return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)


def test_inverse_cholesky_matches_the_reference(correlated_inputs):
    x = correlated_inputs
    raw = 2 * x.T @ x / x.shape[0]
    H, dead = damped_hessian(raw, 0.01)
    U = inverse_cholesky(H)
    assert not dead.any()
    assert torch.allclose(U, _reference(H), rtol=1e-3, atol=1e-5)
    assert torch.equal(U, U.triu())
    assert torch.allclose(U.T @ U, torch.linalg.inv(H), rtol=1e-3, atol=1e-4)
    assert torch.allclose(inverse_cholesky_diag(raw, 0.01), U.diagonal(), rtol=1e-4)


def test_dead_columns_and_damping():
    x = torch.randn(64, 6)
    x[:, 2] = 0
    raw = 2 * x.T @ x / 64
    H, dead = damped_hessian(raw, 0.1)
    assert dead.tolist() == [False, False, True, False, False, False]
    diag = raw.diagonal().clone()
    diag[2] = 1.0
    assert torch.allclose(H.diagonal(), diag + 0.1 * diag.mean())
    assert raw[2, 2] == 0  # the input is left untouched
    assert torch.isfinite(inverse_cholesky(H)).all()

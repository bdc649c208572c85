"""Shared fixtures: offline, CPU, deterministic."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def correlated_inputs():
    """Inputs with strongly correlated channels (a realistic layer input), (n, in)."""
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(128, 128, generator=g) / 8
    return torch.randn(1024, 128, generator=g) @ (torch.eye(128) + mix) @ mix.T * 3


@pytest.fixture
def weight():
    g = torch.Generator().manual_seed(1)
    return torch.randn(96, 128, generator=g) * 0.05


@pytest.fixture(scope="session")
def tiny_llava():
    from luq.models.loading import load_model

    return load_model("tiny-random-llava", device="cpu")

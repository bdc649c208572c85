"""Shared fixtures: offline, CPU, deterministic."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as app.py: no spinning threads
# Tests write their data fixtures under the temporary folder: allow reading them there.
os.environ.setdefault("LUQ_DATA_DIRS", __import__("tempfile").gettempdir())

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


def tiny_inputs(n_text: int = 6, seed: int = 0, with_image: bool = True) -> dict:
    """Hand-built inputs for the tiny LLaVA: 16 image tokens (32x32 image, patch 8) + text."""
    from luq.models.tiny import TINY_IMAGE_TOKEN

    g = torch.Generator().manual_seed(seed)
    text = torch.randint(3, 200, (n_text,), generator=g)
    if not with_image:
        return {"input_ids": torch.cat([torch.tensor([1]), text]).unsqueeze(0)}
    ids = torch.cat([torch.tensor([1]), torch.full((16,), TINY_IMAGE_TOKEN), text]).unsqueeze(0)
    return {"input_ids": ids, "pixel_values": torch.randn(1, 3, 32, 32, generator=g)}


@pytest.fixture
def tiny_batches():
    return [tiny_inputs(seed=i, with_image=i % 3 != 2) for i in range(6)]

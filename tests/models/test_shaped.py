"""Random-weight models at a shipped config's real shape: the SmolVLM-256M folder a CPU runs."""

import pytest
import torch

from luq.evaluation import answer_batch
from luq.models.detail import image_tokens, settings_key
from luq.models.loading import load_model
from luq.models.shaped import save_shaped, shaped_config


@pytest.fixture(scope="module")
def smolvlm_folder(tmp_path_factory):
    return save_shaped("smolvlm-256m", tmp_path_factory.mktemp("smolvlm") / "model")


def test_a_saved_folder_loads_at_one_tile_on_the_cpu_and_answers(smolvlm_folder):
    loaded = load_model(str(smolvlm_folder), device="cpu")
    config = shaped_config("smolvlm-256m")
    assert sum(p.numel() for p in loaded.model.parameters()) > 2e8  # the real 256M shape
    assert loaded.model.config.text_config.hidden_size == config.text_config.hidden_size
    token = loaded.model.config.image_token_id
    assert image_tokens(loaded.processor, token) == 64  # one 512-pixel tile
    own = load_model(str(smolvlm_folder), device="cpu", image_detail="model")
    assert image_tokens(own.processor, token) == 1088  # SmolVLM's own: 17 tiles
    assert settings_key(own.processor) != settings_key(loaded.processor)
    picture = torch.zeros(64, 64, 3, dtype=torch.uint8).numpy()
    from PIL import Image

    answer = answer_batch(loaded.model, loaded.processor, [Image.fromarray(picture)],
                          ["what colour is the shape ?"], max_new_tokens=2)
    assert len(answer) == 1 and isinstance(answer[0], str)

"""Image detail: a picture's image tokens, capped on the CPU, and part of every cache key."""

import pytest
from PIL import Image

from luq.models.detail import (
    default_detail,
    image_settings,
    image_tokens,
    set_image_detail,
    settings_key,
)
from luq.models.shaped import SHAPED, shaped_config, shaped_processor

WIDE = Image.new("RGB", (1024, 768), (40, 90, 200))


@pytest.mark.parametrize("name, own, one_tile", [
    ("smolvlm-256m", 1088, 64),      # 16 tiles of 512 + the global one, 64 tokens each
    ("llava-1.5-7b", 576, 576),      # CLIP at 336 pixels either way
    ("qwen2.5-vl-7b", 4, 4),         # a 64-pixel picture is small already
])
def test_image_tokens_of_a_shapes_picture(name, own, one_tile):
    processor, token = shaped_processor(name), shaped_config(name).image_token_id
    assert image_tokens(processor, token) == own
    set_image_detail(processor, "one-tile")
    assert image_tokens(processor, token) == one_tile


def test_one_tile_caps_a_large_picture_and_model_restores_the_processor():
    for name in ("smolvlm-256m", "qwen2.5-vl-7b"):
        processor, token = shaped_processor(name), shaped_config(name).image_token_id
        own, key = image_tokens(processor, token, WIDE), settings_key(processor)
        set_image_detail(processor, "one-tile")
        capped = image_tokens(processor, token, WIDE)
        assert capped < own and capped <= 256 and settings_key(processor) != key
        set_image_detail(processor, "model")
        assert image_tokens(processor, token, WIDE) == own and settings_key(processor) == key
    with pytest.raises(ValueError, match="one of model, one-tile"):
        set_image_detail(processor, "ultra")


def test_settings_name_what_decides_the_tokens_and_the_cpu_default_is_one_tile():
    settings = image_settings(shaped_processor("smolvlm-256m"))
    assert settings["do_image_splitting"] is True and settings["size"] == {"longest_edge": 2048}
    assert default_detail("cpu") == "one-tile" and default_detail("cuda") == "model"
    assert set(SHAPED) == {"smolvlm-256m", "qwen2.5-vl-3b", "llava-1.5-7b", "qwen2.5-vl-7b"}


def test_profiles_are_cached_per_image_settings(tmp_path, monkeypatch, tiny_llava):
    from luq import pipeline
    from luq.calibration import CalibrationConfig
    from luq.profile import EntropyConfig

    monkeypatch.setenv("LUQ_CACHE_DIR", str(tmp_path))
    config = EntropyConfig("hist", max_tokens=16)
    pipeline.run_profile(tiny_llava, CalibrationConfig(2), config)
    image = tiny_llava.processor.image_processor
    crop = dict(image.crop_size)
    try:
        before = settings_key(tiny_llava.processor)
        image.crop_size = {"height": 24, "width": 24}  # another resolution, same weights
        assert settings_key(tiny_llava.processor) != before
        keys = {p.name for p in tmp_path.iterdir()}
        monkeypatch.setattr(pipeline, "profile_entropy",
                            lambda *a, **k: pytest.fail("no new profile should be needed"))
        image.crop_size = crop
        pipeline.run_profile(tiny_llava, CalibrationConfig(2), config)  # cached: same settings
        image.crop_size = {"height": 24, "width": 24}
        with pytest.raises(pytest.fail.Exception):
            pipeline.run_profile(tiny_llava, CalibrationConfig(2), config)
        assert {p.name for p in tmp_path.iterdir()} == keys
    finally:
        image.crop_size = crop


def test_a_processor_at_one_tile_saves_the_model_s_own_settings(tmp_path):
    """Exports write the checkpoint's own image settings, never the CPU cap."""
    from transformers import AutoImageProcessor

    from luq.models.detail import own_settings

    processor = shaped_processor("smolvlm-256m", "one-tile")
    with own_settings(processor):
        processor.save_pretrained(tmp_path)
    saved = AutoImageProcessor.from_pretrained(tmp_path)
    assert saved.do_image_splitting is True and dict(saved.size) == {"longest_edge": 2048}
    assert processor.image_processor.do_image_splitting is False  # still capped here
    processor.save_pretrained(tmp_path / "capped")  # nothing of ours makes it unsavable


def test_a_session_drops_what_it_built_through_the_old_image_detail(tiny_llava):
    from luq.defaults import HIGH
    from luq.session import Session

    session = Session(tiny_llava)
    session.prepare([HIGH])
    store = session.store
    session._accuracy[("x",)] = 1.0
    session.set_image_detail("one-tile")
    assert session.image_detail == "one-tile" and session.store is not store
    assert session.store.lock is session.lock and not session._accuracy
    session.set_image_detail("model")

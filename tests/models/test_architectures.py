"""Every supported architecture, offline: tiny random models run the whole LUQ path, and the
shipped configs of the hub checkpoints build the real module trees (meta device)."""

import numpy as np
import pytest
import torch
from PIL import Image

from luq.apply import LayerVariantCache
from luq.estimate import ultra_low_needed
from luq.memory import measured_nbytes, model_layout, plan_memory
from luq.models.loading import build_meta_model, load_model
from luq.models.prompting import build_inputs
from luq.models.registry import model_names
from luq.models.tiny import TINY_CONFIGS, TINY_IMAGE_TOKEN
from luq.plan import BitPlan
from luq.quant.spec import QuantSpec

HIGH = QuantSpec("rtn", 4, 64)
LOW = QuantSpec("billm", 1, 64)
TINY = sorted(TINY_CONFIGS)


def picture(seed: int = 0, size: tuple[int, int] = (40, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8))


def answer(loaded, image: Image.Image, question: str, max_new_tokens: int = 3):
    """(prompt inputs, new token ids) of a greedy answer through the model's processor."""
    inputs = build_inputs(loaded.processor, image, question)
    with torch.no_grad():
        out = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return inputs, out[0, inputs["input_ids"].shape[1]:]


@pytest.fixture(scope="module", params=TINY)
def tiny(request):
    torch.manual_seed(0)
    return load_model(request.param, device="cpu")


def test_tiny_models_are_registered():
    assert set(TINY) <= set(model_names("tiny"))


def test_adapter_and_processor_agree_on_the_image_token(tiny):
    adapter, processor = tiny.adapter, tiny.processor
    assert adapter.image_token_id(tiny.model) == TINY_IMAGE_TOKEN
    assert len(adapter.block_names(tiny.model)) == 6
    image_token = processor.image_token
    assert processor.tokenizer.convert_tokens_to_ids(image_token) == TINY_IMAGE_TOKEN


def test_text_only_prompt_has_no_image_tokens(tiny):
    inputs = build_inputs(tiny.processor, None, "what colour is the shape ?")
    assert not (inputs["input_ids"] == TINY_IMAGE_TOKEN).any()
    with torch.no_grad():
        assert tiny.model(**inputs).logits.shape[-1] == tiny.model.config.text_config.vocab_size


def test_plan_apply_answer_and_memory(tiny):
    model = tiny.model
    layout = model_layout(model)  # before applying: the layout reads the nn.Linear shapes
    names = layout.block_names
    full = plan_memory(layout, BitPlan.uniform(names, HIGH)).total_bytes
    lowest = plan_memory(layout, BitPlan.uniform(names, LOW)).total_bytes
    budget = (full + lowest) // 2
    need = ultra_low_needed(layout, budget, HIGH, LOW)
    assert need["fits"] and 0 < need["n_low"] < len(names)
    plan = BitPlan.mixed(names, HIGH, LOW, names[: need["n_low"]])
    report = plan_memory(layout, plan)
    assert report.total_bytes == need["total_bytes"] <= budget

    cache = LayerVariantCache(model)
    try:
        cache.apply(plan)
        assert measured_nbytes(model) == report.total_bytes
        inputs, new = answer(tiny, picture(), "what colour is the shape ?")
        n_image = int((inputs["input_ids"] == TINY_IMAGE_TOKEN).sum())
        n_text = int((inputs["input_ids"] != TINY_IMAGE_TOKEN).sum())
        assert n_image > 0 and n_text > 0
        assert 1 <= len(new) <= 3
    finally:
        cache.restore()


# Published parameter counts of the hub checkpoints (model cards), with the tie flag.
HUB_SIZES = {
    "llava-hf/llava-1.5-7b-hf": (7.06e9, False, 32),
    "Qwen/Qwen2.5-VL-3B-Instruct": (3.75e9, True, 36),
    "Qwen/Qwen2.5-VL-7B-Instruct": (8.29e9, False, 28),
    "HuggingFaceTB/SmolVLM-256M-Instruct": (2.56e8, False, 30),
}


@pytest.mark.parametrize("name", sorted(HUB_SIZES))
def test_shipped_configs_build_the_real_architecture(name):
    params, tied, layers = HUB_SIZES[name]
    model = build_meta_model(name)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(params, rel=0.005)
    assert (model.lm_head.weight is model.get_input_embeddings().weight) is tied
    layout = model_layout(model)
    assert len(layout.blocks) == layers
    parts = {"vision", "projector", "embeddings"} | (set() if tied else {"lm_head"})
    assert {c for c, _ in layout.fp_params} >= parts  # a tied lm_head counts once


def test_profile_sees_image_and_text_tokens(tiny):
    from luq.profile import EntropyConfig, profile_entropy

    batches = [build_inputs(tiny.processor, picture(seed), "what colour is the shape ?")
               for seed in range(3)] + [build_inputs(tiny.processor, None, "how many ?")]
    profile = profile_entropy(tiny.model, tiny.adapter, batches, tiny.name, {},
                              EntropyConfig("kmeans", clusters=8, max_tokens=64))
    assert len(profile.layers) == 6
    for layer in profile.layers:
        assert layer.n_image > 0 and layer.n_text > 0
        assert 0 <= layer.entropy_image <= 3 and 0 <= layer.entropy_text <= 3  # log2 8

import copy

import torch

from luq.embedded import load_split
from luq.evaluation import answer_batch
from luq.models.features import FeatureCache, cache_image_features
from luq.models.loading import load_model
from luq.plan import BitPlan
from luq.quant import QuantSpec
from luq.session import Session
from luq.tower import tower_spec


def _tower_calls(model):
    calls = []
    tower = model.model.vision_tower
    tower.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_three_plans_on_one_picture_run_the_tower_once_and_answer_as_without_the_cache():
    loaded = load_model("embedded")
    plain = copy.deepcopy(loaded)  # before any cache: the tower runs every time
    session = Session(loaded)
    row = load_split("test", 1)[0]
    names = session.block_names
    low, high = QuantSpec.ggml("Q1_0"), QuantSpec.ggml("Q4_K")
    session.store.prepare([low, high])  # the calibration's pictures go through the tower here
    calls = _tower_calls(loaded.model)
    plans = [None, session.uniform(high), BitPlan.mixed(names, high, low, names[:4])]

    def ask(s, plan):
        return s.run(plan, lambda m: answer_batch(m.model, m.processor, [row["image"]],
                                                  [row["question"]], max_new_tokens=3)[0])

    cached = [ask(session, p) for p in plans]
    assert len(calls) == 1  # one picture, one tower pass, three plans
    reference = Session(plain)
    reference.loaded.model.model._luq_feature_cache.limit = 0  # keeps nothing
    assert cached == [ask(reference, p) for p in plans]
    session.set_tower(tower_spec("Q4_K"))  # the tower's weights change in place: a miss
    ask(session, None)
    assert len(calls) == 2


def test_features_equal_the_towers_and_a_deep_copy_uses_its_own_tower(tiny_llava, tiny_batches):
    model = copy.deepcopy(tiny_llava.model)
    cache = cache_image_features(model, [model.model.multi_modal_projector.linear_1.weight])
    pixels = tiny_batches[0]["pixel_values"]
    with torch.no_grad():
        first = model.model.get_image_features(pixel_values=pixels)
        again = model.model.get_image_features(pixel_values=pixels)
        assert (cache.hits, cache.misses) == (1, 1)
        assert again is not first and again.pooler_output is not first.pooler_output  # fresh
        assert torch.equal(_flat(again), _flat(first))
        assert list(first.keys()) == ["pooler_output"]  # the tower's hidden states not kept
        full = type(model.model).get_image_features(model.model, pixel_values=pixels)
        assert torch.equal(_flat(first), _flat(full.pooler_output))
        twin = copy.deepcopy(model)
        twin.model.multi_modal_projector.linear_1.weight.mul_(2)
        changed = twin.model.get_image_features(pixel_values=pixels)
        fresh = type(twin.model).get_image_features(twin.model, pixel_values=pixels)
    assert torch.equal(_flat(changed), _flat(fresh.pooler_output))
    assert not torch.equal(_flat(changed), _flat(first))
    assert cache.hits == 1  # the copy has a cache of its own


def test_with_gradients_the_tower_always_runs(tiny_llava, tiny_batches):
    model = copy.deepcopy(tiny_llava.model)
    cache = cache_image_features(model, [])
    model.model.get_image_features(pixel_values=tiny_batches[0]["pixel_values"])
    assert (cache.hits, cache.misses, cache.nbytes) == (0, 0, 0)


def test_the_cache_is_bounded_in_bytes():
    cache = FeatureCache(limit=1000)
    for i in range(10):
        cache.put(bytes([i]), torch.zeros(100))  # 400 bytes each
    assert cache.nbytes == 800 and list(cache.entries) == [bytes([8]), bytes([9])]
    cache.put(b"big", torch.zeros(1000))
    assert b"big" not in cache.entries


def _flat(value):
    if isinstance(value, torch.Tensor):
        return value.flatten()
    if isinstance(value, dict):
        value = list(value.values())
    return torch.cat([_flat(v) for v in value if v is not None])

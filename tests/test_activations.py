import torch

from luq.activations import ActivationRecorder, Reservoir, record_batches
from luq.models.tiny import TINY_IMAGE_TOKEN


def _hook_count(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_modality_split_matches_image_positions(tiny_llava):
    from tests.conftest import tiny_inputs

    batch = tiny_inputs(n_text=5)
    assert int((batch["input_ids"] == TINY_IMAGE_TOKEN).sum()) == 16
    rec = record_batches(tiny_llava.model, tiny_llava.adapter, [batch], linears=True)
    name = tiny_llava.adapter.block_names(tiny_llava.model)[2]
    assert rec.tokens(name, "image").shape == (16, 64)
    assert rec.tokens(name, "text").shape == (6, 64)  # bos + 5 words
    # the recorded image rows are exactly the block's outputs at the image positions
    captured = {}
    block = tiny_llava.adapter.blocks(tiny_llava.model)[2]
    h = block.register_forward_hook(lambda m, i, o: captured.setdefault("o", o))
    with torch.no_grad():
        tiny_llava.model(**batch)
    h.remove()
    out = captured["o"][0] if isinstance(captured["o"], tuple) else captured["o"]
    mask = batch["input_ids"][0] == TINY_IMAGE_TOKEN
    assert torch.allclose(rec.tokens(name, "image"), out[0][mask].float(), atol=1e-5)
    assert any(".mlp.down_proj" in n for n in rec.outputs)


def test_hooks_are_removed_even_on_error(tiny_llava):
    before = _hook_count(tiny_llava.model)
    try:
        with ActivationRecorder(tiny_llava.model, tiny_llava.adapter, input_stats=True) as rec:
            assert _hook_count(tiny_llava.model) > before
            rec.run({"input_ids": torch.tensor([[1, 2]]), "bogus": torch.zeros(1)})
    except Exception:  # noqa: BLE001 - the model rejects the bogus argument
        pass
    assert _hook_count(tiny_llava.model) == before


def test_memory_is_bounded(tiny_llava, tiny_batches):
    rec = record_batches(tiny_llava.model, tiny_llava.adapter, tiny_batches * 4, max_tokens=20)
    for res in rec.outputs.values():
        assert res["image"].tensor().shape[0] == 20 and res["image"].seen > 20


def test_reservoir_is_uniform_and_seeded():
    r1, r2 = Reservoir(100, seed=1), Reservoir(100, seed=1)
    for start in range(0, 2000, 50):
        chunk = torch.arange(start, start + 50).float().unsqueeze(1)
        r1.add(chunk)
        r2.add(chunk)
    assert torch.equal(r1.tensor(), r2.tensor())
    assert 600 < float(r1.tensor().mean()) < 1400  # spread over the stream, not its head


def test_input_stats_are_collected(tiny_llava, tiny_batches):
    rec = record_batches(tiny_llava.model, tiny_llava.adapter, tiny_batches, input_stats=True)
    assert len(rec.stats) == 7 * len(tiny_llava.adapter.block_names(tiny_llava.model))
    assert all(s.rows > 0 for s in rec.stats.values())

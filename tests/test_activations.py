import pytest
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


def test_reservoir_places_a_batch_as_one_row_at_a_time_would():
    """Algorithm R row by row (the later of two rows drawing one slot wins) is what the
    vectorised placement does, drawing the same random numbers."""
    def one_at_a_time(capacity, chunks, seed):
        gen, rows, seen = torch.Generator().manual_seed(seed), [], 0
        for chunk in chunks:
            take = max(0, min(capacity - len(rows), len(chunk)))
            rows += list(chunk[:take])
            seen += take
            rest = chunk[take:]
            if len(rest) == 0:
                continue
            index = torch.arange(seen + 1, seen + len(rest) + 1)
            slots = (torch.rand(len(rest), generator=gen) * index).long()
            for row, slot in zip(rest, slots):
                if slot < capacity:
                    rows[slot] = row
            seen += len(rest)
        return torch.stack(rows)

    chunks = [torch.randn(n, 3, generator=torch.Generator().manual_seed(n)) for n in
              (5, 40, 7, 300, 1, 64, 900)]
    res = Reservoir(32, seed=4)
    for chunk in chunks:
        res.add(chunk)
    assert torch.equal(res.tensor(), one_at_a_time(32, chunks, 4))
    assert res.seen == sum(len(c) for c in chunks)


def test_input_stats_are_collected(tiny_llava, tiny_batches):
    rec = record_batches(tiny_llava.model, tiny_llava.adapter, tiny_batches, input_stats=True)
    assert len(rec.stats) == 7 * len(tiny_llava.adapter.block_names(tiny_llava.model))
    assert all(s.rows > 0 for s in rec.stats.values())


def test_streamed_statistics_equal_whole_model_hooks(tiny_llava, tiny_batches, monkeypatch):
    import luq.statistics
    from luq.quant import QuantSpec
    from luq.statistics import collect_statistics

    specs = [QuantSpec("gptq", 4, 32), QuantSpec("awq", 4, 32)]
    streamed = collect_statistics(tiny_llava.model, tiny_llava.adapter, tiny_batches, specs)
    reference = record_batches(tiny_llava.model, tiny_llava.adapter, tiny_batches,
                               input_stats=True).stats
    monkeypatch.setattr(luq.statistics, "_streamable", lambda _blocks: False)
    one_pass = collect_statistics(tiny_llava.model, tiny_llava.adapter, tiny_batches, specs)
    assert set(streamed) == set(reference) == set(one_pass)
    for name, ref in reference.items():
        for stats in (streamed[name], one_pass[name]):
            assert stats.rows == ref.rows
            assert torch.allclose(stats.hessian, ref.hessian, rtol=1e-4, atol=1e-5)
            assert stats.samples.shape[1] == ref.samples.shape[1] and stats.samples.numel()


def test_statistics_keep_only_what_the_settings_read(tiny_llava, tiny_batches):
    from luq.quant import QuantSpec
    from luq.statistics import collect_statistics

    model, adapter = tiny_llava.model, tiny_llava.adapter
    assert collect_statistics(model, adapter, tiny_batches, [QuantSpec("rtn", 4, 32)]) == {}
    stats = collect_statistics(model, adapter, tiny_batches,
                               [QuantSpec("billm", 1, 0, split=False)])
    assert len(stats) == 7 * len(adapter.block_names(model))
    for s in stats.values():
        assert s.hessian is None and s.samples.numel() == 0
        assert s.nbytes == s.in_features * 4  # one value per input channel
    # q/k/v read one input, gate/up another: one statistics object each
    block = adapter.block_names(model)[0]
    attn = {id(stats[f"{block}.self_attn.{p}_proj"]) for p in "qkv"}
    mlp = {id(stats[f"{block}.mlp.{p}_proj"]) for p in ("gate", "up")}
    assert len(attn) == 1 and len(mlp) == 1 and attn != mlp


def test_statistics_go_block_by_block_to_a_callback(tiny_llava, tiny_batches):
    from luq.quant import QuantSpec
    from luq.statistics import collect_statistics

    seen = []
    result = collect_statistics(tiny_llava.model, tiny_llava.adapter, tiny_batches,
                                [QuantSpec("gptq", 4, 32)],
                                on_block=lambda name, stats: seen.append((name, len(stats))))
    assert result == {}
    assert seen == [(n, 7) for n in tiny_llava.adapter.block_names(tiny_llava.model)]


@pytest.mark.parametrize("name", ["tiny-random-llava", "tiny-random-qwen2.5-vl",
                                  "tiny-random-smolvlm"])
def test_streaming_batches_equal_lengths_without_changing_the_statistics(name):
    """Calibration batches of one length run through each block together (mixed image and
    text prompts, M-RoPE positions included): the Hessians match per-batch hooks."""
    from luq.calibration import CalibrationConfig, calibration_batches
    from luq.embedded import load_split, text_prompts
    from luq.models.loading import load_model
    from luq.quant import QuantSpec
    from luq.statistics import _batched, capture_block_inputs, collect_statistics

    loaded = load_model(name, device="cpu")
    batches = calibration_batches(loaded.processor, load_split("calibration"), text_prompts(),
                                  CalibrationConfig(12, seed=1))
    groups = _batched(capture_block_inputs(loaded.model, loaded.adapter, batches))
    assert len(groups) < len(batches)
    streamed = collect_statistics(loaded.model, loaded.adapter, batches,
                                  [QuantSpec("gptq", 4, 32)])
    reference = record_batches(loaded.model, loaded.adapter, batches, input_stats=True).stats
    for key, ref in reference.items():
        assert streamed[key].rows == ref.rows
        assert torch.allclose(streamed[key].hessian, ref.hessian, rtol=1e-4, atol=1e-5), key

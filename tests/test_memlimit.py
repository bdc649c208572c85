"""The process memory limit: how it is set, and that working under it changes no result."""

import pytest
import torch

from luq.apply import VariantStore
from luq.defaults import HIGH, LOW
from luq.embedded import load_split
from luq.evaluation import answer as answer_module
from luq.evaluation import evaluate
from luq.memlimit import (
    GB,
    MemoryLimit,
    active_limit,
    answer_chunk,
    check_fits,
    limited,
    parse_gb,
    resolve_limit,
)
from luq.models.loading import ModelLoadError, load_model
from luq.plan import BitPlan
from luq.resources import process_rss_bytes


def test_the_limit_comes_from_the_argument_the_environment_or_the_free_memory(monkeypatch):
    monkeypatch.delenv("LUQ_MEMORY_GB", raising=False)
    assert resolve_limit("cpu", 3).nbytes == 3 * GB
    monkeypatch.setenv("LUQ_MEMORY_GB", "2.5")
    limit = resolve_limit("cpu")
    assert limit.nbytes == 2.5 * GB and limit.source == "LUQ_MEMORY_GB"
    monkeypatch.delenv("LUQ_MEMORY_GB")
    free = resolve_limit("cpu")
    assert process_rss_bytes() < free.nbytes and "free at start" in free.describe()
    for bad in ("lots", "-1", "0", "nan", "inf"):
        with pytest.raises(ValueError, match="number of GB"):
            parse_gb(bad, "--memory-gb")


def test_over_the_limit_is_one_clear_message():
    limit = MemoryLimit(process_rss_bytes() + GB // 10, "cpu", "--memory-gb")
    with pytest.raises(MemoryError, match=r"needs 5\.0 GB; 0\.\d GB is left .*--memory-gb"):
        check_fits(int(5 * GB), "the variants", limit)
    with limited(limit):
        with pytest.raises(ModelLoadError, match="weights; .* left under the memory limit"):
            load_model("llava-hf/llava-1.5-7b-hf", device="cpu")
    assert active_limit() is None


def test_answers_go_in_sub_batches_that_fit():
    loaded = load_model("embedded")
    assert answer_chunk(loaded.model, 100, 80) == 100  # no limit: one batch
    tight = MemoryLimit(process_rss_bytes() + (1 << 20), "cpu", "test")
    with limited(tight):
        assert answer_chunk(loaded.model, 100, 80) == 1


def test_a_tight_limit_evicts_dense_weights_and_chunks_batches_with_equal_results(monkeypatch):
    loaded = load_model("embedded")
    rows = load_split("test", 24)
    store = VariantStore(loaded.model, loaded.adapter)
    store.prepare([HIGH])
    plan = BitPlan.mixed(store.names, HIGH, LOW, store.names[:3])
    store.prepare([LOW])
    store.apply(plan)
    free = evaluate(loaded.model, loaded.processor, rows, batch_size=24, max_new_tokens=1)
    calls = []
    real = answer_module._answer
    monkeypatch.setattr(answer_module, "_answer", lambda *a: calls.append(len(a[2])) or real(*a))
    tight = MemoryLimit(process_rss_bytes() // 2, "cpu", "test")  # already over it: no room
    with limited(tight):
        store.apply(plan)  # the dense cache is fitted to the room: none
        assert store.dense.limit == 0 and store.dense.nbytes == 0
        before = store.dense.dequantizations
        under = evaluate(loaded.model, loaded.processor, rows, batch_size=24, max_new_tokens=1)
        assert store.dense.dequantizations > before  # rebuilt every forward
    assert calls == [1] * 24  # one question at a time
    assert under.predictions == free.predictions and under.accuracy == free.accuracy
    store.apply(plan)
    assert store.dense.limit is None  # no limit again: the embedded model's unbounded cache


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_the_allocator_is_capped():  # pragma: no cover - CPU CI
    limit = resolve_limit("cuda", 1)
    with limited(limit), pytest.raises(torch.OutOfMemoryError):
        torch.empty(int(2 * GB), dtype=torch.uint8, device="cuda")

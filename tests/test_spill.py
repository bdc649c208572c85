import copy
from pathlib import Path

import torch
from torch import nn

from luq.apply import VariantStore
from luq.memlimit import MemoryLimit, limited
from luq.plan import BitPlan
from luq.quant import QuantSpec
from luq.resources import process_rss_bytes
from luq.spill import is_spilled, spill_linears

HIGH, LOW = QuantSpec("rtn", 4, 32), QuantSpec("billm", 1, 32)


def _mapped_spill_files() -> list[str]:
    return [line for line in Path("/proc/self/maps").read_text().splitlines()
            if "luq-spill-" in line]


def test_spilled_weights_read_the_same_from_a_mapped_file_whose_name_is_gone(tmp_path):
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16, bias=False))
    block[2].to(torch.bfloat16)  # two dtypes
    weights = [m.weight.detach().clone() for m in (block[0], block[2])]
    x = torch.randn(5, 64)
    with torch.no_grad():
        before = block[2](block[1](block[0](x)).bfloat16())
    moved = spill_linears(block, tmp_path)
    assert moved == 64 * 32 * 4 + 32 * 16 * 2 and is_spilled(block)
    assert not list(tmp_path.iterdir())  # unlinked at once: the mapping holds the data
    maps = _mapped_spill_files()
    assert len(maps) >= 2 and all(line.endswith("(deleted)") for line in maps)
    assert all(torch.equal(w, m.weight) for w, m in zip(weights, (block[0], block[2])))
    # each weight owns its mapping whole: save_pretrained / safetensors copy shared slices
    assert all(m.weight.untyped_storage().nbytes() == m.weight.numel() * m.weight.element_size()
               for m in (block[0], block[2]))
    with torch.no_grad():
        assert torch.equal(block[2](block[1](block[0](x)).bfloat16()), before)
    assert spill_linears(block, tmp_path) == 0  # already spilled


def test_a_store_that_spills_gives_the_same_variants_and_full_precision(tiny_llava, tiny_batches):
    plain = VariantStore(copy.deepcopy(tiny_llava.model), tiny_llava.adapter, spill=False)
    spilling = VariantStore(copy.deepcopy(tiny_llava.model), tiny_llava.adapter, spill=True)
    for store in (plain, spilling):
        store.prepare([HIGH, LOW])
    assert plain.spilled == set() and spilling.spilled == set(spilling.names)
    assert all(is_spilled(b) for b in spilling.originals.values())
    plan = BitPlan.mixed(plain.names, HIGH, LOW, plain.names[:2])
    outputs = []
    for store in (plain, spilling):
        with torch.no_grad():
            store.apply(plan)
            quantized = store.model(**tiny_batches[0]).logits
            store.restore()
            full = store.model(**tiny_batches[0]).logits
        outputs.append((quantized, full))
    assert torch.equal(outputs[0][0], outputs[1][0]) and torch.equal(outputs[0][1], outputs[1][1])


def test_a_spill_that_cannot_write_leaves_the_weights_in_ram(tiny_llava, monkeypatch):
    monkeypatch.setenv("LUQ_SPILL_DIR", "/nonexistent/luq-spill")
    store = VariantStore(copy.deepcopy(tiny_llava.model), tiny_llava.adapter, spill=True)
    store.prepare([HIGH])  # the OSError is not the user's problem: nothing is spilled
    assert store.spilled == set() and not any(is_spilled(b) for b in store.originals.values())


def test_auto_spills_only_when_a_cpu_limit_leaves_too_little_room(tiny_llava):
    free = VariantStore(copy.deepcopy(tiny_llava.model), tiny_llava.adapter)
    free.prepare([HIGH])
    assert free.spilled == set()  # no limit: originals stay
    roomy = MemoryLimit(process_rss_bytes() + (8 << 30), "cpu", "test")
    with limited(roomy):
        store = VariantStore(copy.deepcopy(tiny_llava.model), tiny_llava.adapter)
        store.prepare([HIGH])
    assert store.spilled == set()
    tight = MemoryLimit(process_rss_bytes() // 2, "cpu", "test")  # already over it
    with limited(tight):
        store = VariantStore(copy.deepcopy(tiny_llava.model), tiny_llava.adapter)
        store.prepare([HIGH, LOW])
    assert store.spilled == set(store.names)

"""The vision tower and projector at a llama.cpp type: memory, the PyTorch weights, the mmproj."""

import gguf
import pytest
import torch

from luq.deploy import GGUFStore
from luq.engines import ggml
from luq.models.loading import load_model
from luq.quant.ggml_types import row_nbytes, stored_type
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.session import Session
from luq.tower import TOWER_TYPES, TowerWeights, tower_spec


@pytest.fixture(scope="module")
def session():
    return Session(load_model("embedded"))


def tower_linears(session):
    return TowerWeights(session.loaded.model, session.loaded.adapter).linears


def test_tower_types_are_named():
    assert TOWER_TYPES == ("F16", "Q8_0", "Q4_K")
    assert tower_spec("F16") == FULL_PRECISION and tower_spec("Q4_K") == QuantSpec.ggml("Q4_K")
    with pytest.raises(ValueError, match="unknown tower type 'Q2_K'; known: F16, Q8_0, Q4_K"):
        tower_spec("Q2_K")


@pytest.mark.parametrize("name", ["Q8_0", "Q4_K"])
def test_memory_counts_the_tower_at_its_type(session, name):
    linears = tower_linears(session)
    full = session.memory(None)
    session.set_tower(tower_spec(name))
    try:
        typed = session.memory(None)
        stored = sum(m.out_features * row_nbytes(stored_type(name, m.in_features),
                                                 m.in_features) for m in linears)
        f16 = sum(m.weight.numel() * 2 for m in linears)
        assert full.total_bytes - typed.total_bytes == f16 - stored  # to the byte
        plan = session.plan_for_budget(full.total_bytes, QuantSpec.ggml("Q4_K"),
                                       QuantSpec.ggml("IQ1_M")).plan
        assert session.memory(plan).total_bytes <= full.total_bytes
    finally:
        session.set_tower(FULL_PRECISION)


def test_pytorch_weights_take_the_type_and_come_back(session):
    linears = tower_linears(session)
    before = [m.weight.detach().clone() for m in linears]
    session.set_tower(tower_spec("Q4_K"))
    after = [m.weight.detach().clone() for m in linears]
    assert all(not torch.equal(a, b) for a, b in zip(after, before))
    w16 = before[0].half().float().numpy()
    qtype = stored_type("Q4_K", w16.shape[1])
    expected = ggml.dequantize(ggml.quantize(w16, qtype), qtype, w16.shape[1])
    assert torch.equal(after[0], torch.from_numpy(expected))  # ggml's bytes, read back
    session.set_tower(tower_spec("Q8_0"))  # from the originals, never compounded
    session.set_tower(FULL_PRECISION)
    assert all(torch.equal(m.weight, b) for m, b in zip(linears, before))


def test_the_mmproj_holds_the_tower_type_and_llama_cpp_answers(session, tmp_path):
    from luq.embedded import load_split

    session.set_tower(tower_spec("Q8_0"))
    store = GGUFStore(session, tmp_path, engines=1)
    try:
        plan = session.uniform(QuantSpec.ggml("Q4_K"))
        export = store.export(plan)
        types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(export.mmproj).tensors}
        assert types["v.blk.0.attn_q.weight"] == "Q8_0" and types["mm.0.weight"] == "Q8_0"
        assert types["v.position_embd.weight"] in ("F16", "F32")  # tables stay
        tensor_bytes = sum(int(t.n_bytes) for t in gguf.GGUFReader(export.mmproj).tensors
                           if t.tensor_type.name == "Q8_0")
        linears = tower_linears(session)
        assert tensor_bytes == sum(m.out_features * row_nbytes("Q8_0", m.in_features)
                                   for m in linears)
        row = load_split("test", 1)[0]
        reply = store.engine(plan).answer(row["question"], row["image"], 3)
        assert reply.text.strip()
    finally:
        store.close()
        session.set_tower(FULL_PRECISION)

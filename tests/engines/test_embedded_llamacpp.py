"""The embedded model end to end in llama.cpp: image and question in, answer out, the same
tokens and answers as transformers (issue: embedded model second edition / GGUF)."""

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from luq.deploy import engine_prompt
from luq.embedded import load_split
from luq.embedded.model import EMBEDDED_DIR
from luq.engines.llamacpp import LlamaCppModel
from luq.evaluation import answer_batch
from luq.export.gguf import export_gguf
from luq.models.adapters import adapter_for
from luq.models.prompting import build_inputs
from luq.plan import BitPlan
from luq.quant.spec import FULL_PRECISION

N = 40


@pytest.fixture(scope="module")
def full_gguf(tmp_path_factory):
    processor = AutoProcessor.from_pretrained(EMBEDDED_DIR)
    model = AutoModelForImageTextToText.from_pretrained(EMBEDDED_DIR, dtype=torch.float32).eval()
    plan = BitPlan.uniform(adapter_for(model).block_names(model), FULL_PRECISION)
    export = export_gguf(model, plan, tmp_path_factory.mktemp("gguf"), processor,
                         outtype="f32", keep_base=True)
    return model, processor, export


def test_f32_gguf_answers_as_transformers_does(full_gguf):
    model, processor, export = full_gguf
    rows = load_split("test", N)
    hf = answer_batch(model, processor, rows["image"], rows["question"], 3)
    with LlamaCppModel(export.base, export.mmproj) as engine:
        replies = [engine.answer(engine_prompt(processor, q), im, 3)
                   for im, q in zip(rows["image"], rows["question"])]
        shouted = engine.answer(engine_prompt(processor, rows[0]["question"].upper()),
                                rows[0]["image"], 3)
    same = sum(r.text.strip() == h.strip() for r, h in zip(replies, hf))
    assert same >= N - 1, list(zip([r.text for r in replies], hf))
    # the prompt llama.cpp evaluates is as long as transformers' (image tokens + text)
    for row, reply in list(zip(rows, replies))[:5]:
        ids = build_inputs(processor, row["image"], row["question"])["input_ids"]
        assert reply.prompt_tokens == ids.shape[1]
    assert shouted.text == replies[0].text  # lowercased for llama.cpp, as transformers does


def test_mmproj_is_llamacpps_llava_route(full_gguf):
    import gguf

    *_, export = full_gguf
    fields = gguf.GGUFReader(export.mmproj).fields
    assert fields["clip.projector_type"].contents() == "mlp"
    assert fields["clip.vision.block_count"].contents() == 4
    assert fields["clip.vision.feature_layer"].contents() == [4]  # the tower's last layer

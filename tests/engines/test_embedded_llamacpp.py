"""The embedded model end to end in llama.cpp: image and question in, answer out, the same
tokens and answers as transformers (issue: embedded model second edition / GGUF)."""

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from luq.deploy import engine_prompt
from luq.embedded import load_split
from luq.embedded.model import EMBEDDED_DIR
from luq.engines.llamacpp import LlamaCppModel, _png_url
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
    assert shouted.text == replies[0].text  # lowercased for llama.cpp, as transformers does


def test_f32_gguf_gives_transformers_first_token_distribution(full_gguf):
    """Image and question through llama.cpp's chat template and mmproj: the first answer
    token's top log-probabilities equal transformers' (same tokens, same image features)."""
    model, processor, export = full_gguf
    with LlamaCppModel(export.base, export.mmproj) as engine:
        for row in load_split("test", 6):
            request = {"max_tokens": 1, "temperature": 0.0, "logprobs": True,
                       "top_logprobs": 3, "messages": [{"role": "user", "content": [
                           {"type": "image_url", "image_url": {"url": _png_url(row["image"])}},
                           {"type": "text", "text": row["question"]}]}]}
            top = engine._server.handle_chat_completions(request)["choices"][0]
            theirs = [(t["token"].strip(), t["logprob"])
                      for t in top["logprobs"]["content"][0]["top_logprobs"]]
            with torch.no_grad():
                logits = model(**build_inputs(processor, row["image"], row["question"])).logits
            values, ids = torch.log_softmax(logits[0, -1], -1).topk(3)
            ours = [(processor.tokenizer.decode([int(i)]).strip(), float(v))
                    for v, i in zip(values, ids)]
            assert [t for t, _ in theirs] == [t for t, _ in ours], (theirs, ours)
            assert all(abs(a - b) < 0.02 for (_, a), (_, b) in zip(theirs, ours)), (theirs, ours)


def test_mmproj_is_llamacpps_llava_route(full_gguf):
    import gguf

    *_, export = full_gguf
    fields = gguf.GGUFReader(export.mmproj).fields
    assert fields["clip.projector_type"].contents() == "mlp"
    assert fields["clip.vision.block_count"].contents() == 4
    assert fields["clip.vision.feature_layer"].contents() == [4]  # the tower's last layer
    names = {t.name for t in gguf.GGUFReader(export.mmproj).tensors}
    assert "v.class_embd" not in names and "v.patch_embd.bias" in names  # SigLIP-style

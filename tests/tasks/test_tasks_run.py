"""run_task on tiny random models (plumbing) and on the embedded model (quality)."""

import pytest

from luq.models.loading import load_model
from luq.tasks import load_docs, read_predictions, run_task, score_predictions, write_predictions


def check_structure(result, docs):
    assert result["n"] == len(docs)
    assert [p["doc_id"] for p in result["predictions"]] == docs["doc_id"]
    assert all(isinstance(p["prediction"], str) for p in result["predictions"])
    assert result["seconds"] > 0


def test_tiny_llava_on_mme(tiny_llava, data):
    docs = load_docs("mme", str(data["mme"]))
    seen = []
    result = run_task(tiny_llava.model, tiny_llava.processor, "mme", docs, batch_size=3,
                      progress=lambda done, total, msg: seen.append((done, total, msg)))
    check_structure(result, docs)
    assert set(result["categories"]) == {"existence", "OCR", "code_reasoning"}
    assert 0 <= result["perception"] <= 400 and 0 <= result["cognition"] <= 200
    assert [s[:2] for s in seen] == [(3, 8), (6, 8), (8, 8)] and "mme" in seen[0][2]


def test_tiny_llava_on_textvqa(tiny_llava, data, tmp_path):
    docs = load_docs("textvqa_val", str(data["textvqa_val"]), limit=2)
    result = run_task(tiny_llava.model, tiny_llava.processor, "textvqa_val", docs,
                      max_new_tokens=2)
    check_structure(result, docs)
    assert 0.0 <= result["accuracy"] <= 1.0
    write_predictions(tmp_path / "p.jsonl",
                      {p["doc_id"]: p["prediction"] for p in result["predictions"]})
    again = score_predictions("textvqa_val", docs, read_predictions(tmp_path / "p.jsonl"))
    assert again == {"accuracy": result["accuracy"], "n": 2, "harness": "official",
                     "differs": again["differs"]}


def test_embedded_model_on_20_shapes_questions():
    loaded = load_model("embedded", device="cpu")
    docs = load_docs("shapes", limit=20)
    result = run_task(loaded.model, loaded.processor, "shapes", docs, batch_size=20)
    assert result["n"] == 20 and result["accuracy"] >= 0.95, result["predictions"]


def test_refuses_documents_without_images(tiny_llava):
    with pytest.raises(ValueError, match="no image"):
        run_task(tiny_llava.model, tiny_llava.processor, "shapes",
                 [{"question": "q", "answer": "a", "image": None}])
    with pytest.raises(ValueError, match="no documents"):
        run_task(tiny_llava.model, tiny_llava.processor, "shapes", [])

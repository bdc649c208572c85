"""The two rule sets on replies that stress normalisation (``tests/tasks/stress.py``).

``LMMS_EVAL`` holds what lmms-eval 0.7.3's own task code gives on these documents and replies
(its ``process_results`` and aggregation functions run by ``python -m benchmarks.harness_parity``
on the unpacked wheel, replies stripped as its harness strips them); ``OFFICIAL`` the benchmark's
own rules as ``luq`` applies them, worked by hand where they differ.
"""

import json

import pytest

from luq.cli import main as cli_main
from luq.tasks import score_predictions
from luq.tasks.metrics import lmms_eval
from tests.tasks.stress import CASES, PERIODS

LMMS_EVAL = {
    "mme": {"perception": 500.0, "cognition": 50.0},
    "pope": {"accuracy": 0.5, "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "yes_ratio": 0.5},
    "textvqa_val": {"accuracy": 0.65},
    "vqav2_val": {"accuracy": 0.6272727272727273},
    "gqa": {"accuracy": 0.5},
    "scienceqa_img": {"accuracy": 0.5},
    "chartqa": {"relaxed_accuracy": 0.7, "per_type.human_test": 0.8,
                "per_type.augmented_test": 0.6},
    "docvqa_val": {"anls": 0.675},
    "mmbench_en_dev": {"accuracy": 0.5, "categories.attribute": 0.5, "categories.object": 0.5},
}
OFFICIAL_DIFFERS = {  # metric -> official value, where it is not lmms-eval's
    # POPE's evaluate.py: "yes" among the 10 replies (" Yes", "Yes"); lmms-eval: answers 5/10.
    "pope": {"yes_ratio": 0.2},
    # every period removed: the 40-period "yes" is right (1 instead of 0).
    "textvqa_val": {"accuracy": 0.75},
    # "1,,000" and "5,,000" are no numbers under the official comma rule (0 instead of 1 each);
    # the 40-period "yes" is right: (5.9 - 2 + 1) / 11.
    "vqav2_val": {"accuracy": 5.9 / 11},
    # "yes ." and "( no )" match once the space left by the punctuation is stripped.
    "gqa": {"accuracy": 0.7},
    # "A cat is on the mat" names option A (right); lmms-eval reads "A" as an article there,
    # matches "cat" (D) and fails question 5; "B or C" names two letters (wrong) where
    # lmms-eval's extraction takes the first: question 12 passes there.
    "mmbench_en_dev": {"categories.attribute": 1.0, "categories.object": 0.0},
}


def flat(metrics: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run(task: str, harness: str, **kwargs) -> dict:
    docs, replies = CASES[task]
    return score_predictions(task, docs, dict(enumerate(replies)), harness, **kwargs)


@pytest.mark.parametrize("task", sorted(LMMS_EVAL))
def test_lmms_eval_rules_reproduce_lmms_eval(task):
    result = flat(run(task, "lmms-eval"))
    assert result["harness"] == "lmms-eval"
    for metric, value in LMMS_EVAL[task].items():
        assert result[metric] == pytest.approx(value, abs=1e-6), metric


@pytest.mark.parametrize("task", sorted(LMMS_EVAL))
def test_official_rules_and_what_differs(task):
    result = run(task, "official")
    values = flat(result)
    expected = {**LMMS_EVAL[task], **OFFICIAL_DIFFERS.get(task, {})}
    for metric, value in expected.items():
        assert values[metric] == pytest.approx(value, abs=1e-9), metric
    for metric, official in OFFICIAL_DIFFERS.get(task, {}).items():
        both = result["differs"][metric]
        assert both == pytest.approx({"official": official,
                                      "lmms-eval": LMMS_EVAL[task][metric]})
    same = set(LMMS_EVAL[task]) - set(OFFICIAL_DIFFERS.get(task, {}))
    assert not same & set(result["differs"])


def test_replies_are_stripped_before_every_rule():
    # DocVQA: " hallo " scores as "hallo" (0.8); unstripped its length 7 would give 0.857.
    docs, _ = CASES["docvqa_val"]
    for harness in ("official", "lmms-eval"):
        assert score_predictions("docvqa_val", docs[:1], {0: " hallo "}, harness)["anls"] == \
            pytest.approx(0.8)
    # ChartQA: " Yes" equals "Yes", "12% " is 0.12 under both rule sets.
    docs, _ = CASES["chartqa"]
    result = score_predictions("chartqa", docs[:2], {0: " Yes", 1: "12% "})
    assert result["relaxed_accuracy"] == 1.0 and result["differs"] == {}


def test_per_document_scores_name_the_documents_that_differ():
    result = run("gqa", "official", per_doc=True)
    rows = result["per_doc"]
    assert [r["doc_id"] for r in rows] == list(range(10))
    assert rows[0] == {"doc_id": 0, "prediction": "yes .", "official": 1.0, "lmms-eval": 0.0}
    assert [r["doc_id"] for r in rows if r["official"] != r["lmms-eval"]] == [0, 1]


def test_unknown_harness_is_refused():
    with pytest.raises(ValueError, match="unknown harness 'vlmevalkit'; known: official"):
        run("gqa", "vlmevalkit")


def test_vqa_quirks():
    assert lmms_eval.vqa_normalize("1,,000") == "1000"
    assert lmms_eval.vqa_normalize(PERIODS) == "yes" + "." * 8  # 32 of 40 removed
    assert lmms_eval.textvqa_normalize("Coca-Cola's") == "coca cola 's"
    # whole records compared: two identical records leave each other out
    same = {"answer": "red", "answer_confidence": "yes", "answer_id": 1}
    assert lmms_eval.vqav2_accuracy("red", [same, same, same, same]) == 0.0


def test_mmbench_static_extraction():
    doc = {"A": "cat", "B": "dog", "C": "horse", "D": None}
    assert lmms_eval.mmbench_choices(doc) == {"A": "cat", "B": "dog", "C": "horse"}
    assert lmms_eval.mmbench_pick("(B) dog", doc) == "B"
    assert lmms_eval.mmbench_pick("A dog is in the picture", doc) == "B"  # "A": an article
    assert lmms_eval.mmbench_pick("A cat", doc) == "A"  # two words: a letter
    assert lmms_eval.mmbench_pick("I think it is C", doc) == "C"  # extraction: the end
    assert lmms_eval.mmbench_pick("E", doc) == "E"  # A-E always, whatever the options
    assert lmms_eval.mmbench_pick("", doc) == ""
    # a "nan" cell is an option there (pandas sees text): "banana" contains it
    assert lmms_eval.mmbench_pick("banana", {"A": "cat", "B": "nan", "C": None, "D": None}) \
        == "B"


def test_cli_score_harness_and_per_doc(tmp_path, capsys):
    docs, replies = CASES["gqa"]
    # the CLI reads documents from a folder in the hub schema
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "gqa"
    questions = Dataset.from_list(docs)
    DatasetDict({"testdev": questions}).save_to_disk(str(folder / "testdev_balanced_instructions"))
    from tests.tasks.fixtures import GQA_IMAGE_FEATURES, image

    images = Dataset.from_list([{"id": d["imageId"], "image": image(i)}
                                for i, d in enumerate(docs)], features=GQA_IMAGE_FEATURES)
    DatasetDict({"testdev": images}).save_to_disk(str(folder / "testdev_balanced_images"))
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"doc_id": i, "prediction": r}) + "\n"
                             for i, r in enumerate(replies)))
    per_doc = tmp_path / "per_doc.jsonl"
    cli_main(["score", "--task", "gqa", "--data", str(folder), "--predictions", str(preds),
              "--harness", "lmms-eval", "--per-doc", str(per_doc)])
    out = json.loads(capsys.readouterr().out)
    assert out["harness"] == "lmms-eval" and out["accuracy"] == 0.5
    assert out["differs"] == {"accuracy": {"official": 0.7, "lmms-eval": 0.5}}
    assert out["per_doc"] == {"out": str(per_doc), "documents": 10, "scored_differently": 2}
    lines = [json.loads(line) for line in per_doc.read_text().splitlines()]
    assert lines[1] == {"doc_id": 1, "prediction": "( no )", "official": 1.0, "lmms-eval": 0.0}

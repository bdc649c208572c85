"""Each benchmark end to end offline: fixture -> documents -> prompts -> scores worked by hand."""

import pytest

from luq.tasks import get_task, load_docs, score_predictions


def metrics(result: dict) -> dict:
    """The metrics and ``n``, without the rule set's name and what differs under the other."""
    assert result.pop("harness") == "official"
    result.pop("differs")
    return result


def score(data, name, replies):
    docs = load_docs(name, str(data[name]))
    return metrics(score_predictions(name, docs, dict(enumerate(replies))))


def test_mme(data):
    # existence: image 0 both right (200), image 1 one right (50) -> 125; OCR both right via
    # "y"/"n" -> 200; perception 325. code_reasoning both wrong -> 0 = cognition.
    result = score(data, "mme", ["Yes", "No.", "yes", "yes", "y", "n", "No", "Yes"])
    assert result == {"perception": 325.0, "cognition": 0.0, "n": 8,
                      "categories": {"OCR": 200.0, "code_reasoning": 0.0, "existence": 125.0}}


def test_vqav2(data):
    # "yes" x10 -> 1; "two" is "2", matched by 3 humans -> 0.9; "red" matched by 1 -> 0.3.
    result = score(data, "vqav2_val", ["Yes", "two", "red"])
    assert result["accuracy"] == pytest.approx((1 + 0.9 + 0.3) / 3)
    assert result["per_answer_type"] == pytest.approx({"number": 0.9, "other": 0.3,
                                                       "yes/no": 1.0})


def test_textvqa(data):
    # "Coca-Cola" -> "coca cola" (3 humans) 0.9; "Nokia." -> 1; "2" vs "two" x2 -> 0.6.
    result = score(data, "textvqa_val", ["Coca-Cola", "Nokia.", "2"])
    assert result == pytest.approx({"accuracy": (0.9 + 1 + 0.6) / 3, "n": 3})


def test_pope(data):
    result = score(data, "pope", ["Yes", "no", "yes", "yes", "No", "maybe"])
    assert {k: result[k] for k in ("accuracy", "precision", "recall", "f1", "yes_ratio")} == \
        pytest.approx({"accuracy": 0.5, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3,
                       "yes_ratio": 0.5})
    # adversarial: yes/yes answered yes/no -> TP 1, FN 1: precision 1, recall 0.5.
    assert result["categories"]["adversarial"]["recall"] == 0.5
    assert result["categories"]["adversarial"]["precision"] == 1.0


def test_gqa(data):
    assert score(data, "gqa", ["Yes.", "Left", "tshirt", "right"])["accuracy"] == 0.75


def test_scienceqa(data):
    # answers B, A, A, A: "B" right, "a" right, "B. dog" wrong, "The answer is A" wrong.
    result = score(data, "scienceqa_img", ["B", "a", "B. Provo", "The answer is A"])
    assert result == {"accuracy": 0.5, "n": 4}


def test_chartqa(data):
    # 41.9 vs 40 right, 0.45 vs 45% right, yes vs Yes right, 0.0 vs 0 wrong, 42.1 vs 40 wrong.
    result = score(data, "chartqa", ["41.9", "0.45", "yes", "0.0", "42.1"])
    assert result["relaxed_accuracy"] == pytest.approx(0.6)
    assert result["per_type"] == pytest.approx({"augmented_test": 1 / 3, "human_test": 1.0})


def test_docvqa(data):
    # hallo/hello 0.8; Help vs {hello, help me} 0.6; xyz vs 1/2/2019 -> below 0.5 -> 0.
    result = score(data, "docvqa_val", ["hallo", "Help", "xyz"])
    assert result == pytest.approx({"anls": (0.8 + 0.6 + 0) / 3, "n": 3})


def test_mmbench_circular(data):
    docs = load_docs("mmbench_en_dev", str(data["mmbench_en_dev"]))
    answers = docs["answer"]  # question 5: 4 rotations; question 9: 2 rotations
    replies = list(answers)
    replies[1] = f"({answers[1]}) dog"     # still right, in another format
    replies[5] = "A" if answers[5] == "B" else "B"  # one rotation of question 9 wrong
    result = metrics(score_predictions("mmbench_en_dev", docs, dict(enumerate(replies))))
    assert result == {"accuracy": 0.5, "questions": 2, "categories": {"attribute": 0.5},
                      "n": 6}


@pytest.mark.parametrize("name", ["mme", "pope", "textvqa_val", "vqav2_val", "gqa",
                                  "scienceqa_img", "chartqa", "docvqa_val", "mmbench_en_dev"])
def test_headline_metric_is_reported(data, name):
    docs = load_docs(name, str(data[name]))
    result = score_predictions(name, docs, {i: "yes" for i in range(len(docs))})
    assert get_task(name).headline in result and result["n"] == len(docs)

"""MME and POPE rules, with numbers worked by hand from the rules."""

import pytest

from luq.tasks.metrics import COGNITION, PERCEPTION, mme_category_scores, mme_parse, pope_metrics


@pytest.mark.parametrize("reply, label", [
    ("Yes", "yes"), ("No.", "no"), (" YES. ", "yes"), ("y", "yes"), ("N", "no"), ("x", "other"),
    ("Yes, there is a dog.", "yes"), ("No, there is not.", "no"), ("Not at all", "no"),
    ("I think so", "other"), ("The answer is yes", "other"),  # only the first 4 characters
])
def test_mme_reply_parsing(reply, label):
    assert mme_parse(reply) == label


def test_mme_category_score_is_mean_of_acc_plus_acc_plus_per_image():
    # image 1: both right -> acc 100 + acc+ 100; image 2: one right -> 50 + 0;
    # image 3: none right -> 0.  (200 + 50 + 0) / 3 = 83.33...
    results = [("color", "a.png", True), ("color", "a.png", True),
               ("color", "b.png", True), ("color", "b.png", False),
               ("color", "c.png", False), ("color", "c.png", False),
               ("OCR", "d.png", True), ("OCR", "d.png", True)]
    assert mme_category_scores(results) == pytest.approx({"color": 250 / 3, "OCR": 200.0})


def test_mme_official_category_lists():
    assert len(PERCEPTION) == 10 and len(COGNITION) == 4  # max 2000 and 800
    assert "OCR" in PERCEPTION and "code_reasoning" in COGNITION


def test_pope_metrics_by_hand():
    answers = ["yes", "yes", "yes", "no", "no", "no"]
    replies = ["Yes", "no", "yes ", "yes", "No", "maybe"]
    # TP 2 (rows 0, 2), FN 1 (row 1), FP 1 (row 3), TN 1 (row 4); "maybe" is just wrong.
    metrics = pope_metrics(replies, answers)
    assert metrics == pytest.approx({"accuracy": 3 / 6, "precision": 2 / 3, "recall": 2 / 3,
                                     "f1": 2 / 3, "yes_ratio": 3 / 6})


def test_pope_degenerate_cases_and_bad_input():
    assert pope_metrics(["no", "no"], ["yes", "no"])["f1"] == 0.0
    with pytest.raises(ValueError, match="yes or no"):
        pope_metrics(["yes"], ["maybe"])
    with pytest.raises(ValueError):
        pope_metrics(["yes"], [])

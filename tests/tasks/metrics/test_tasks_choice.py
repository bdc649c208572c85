"""ScienceQA's letter rule and MMBench's choice extraction and CircularEval."""

import pytest

from luq.tasks.metrics import circular_accuracy, mmbench_extract, scienceqa_correct


@pytest.mark.parametrize("reply, right", [
    ("B", True), ("b", True), (" B ", True), ("B. duck", True),
    ("A", False), ("A. cat", False), ("The answer is B", False), ("duck", False),
    ("b. duck", False),  # the "X." form needs an upper-case letter
])
def test_scienceqa_letter(reply, right):
    assert scienceqa_correct(reply, answer=1, n_choices=2) is right


def test_scienceqa_rejects_an_answer_outside_the_choices():
    with pytest.raises(ValueError):
        scienceqa_correct("A", answer=3, n_choices=2)


OPTIONS = {"A": "cat", "B": "dog", "C": "horse", "D": "cow"}


@pytest.mark.parametrize("reply, letter", [
    ("B", "B"), ("(C) horse", "C"), ("D.", "D"), ("The answer is D.", "D"),
    ("[A]", "A"), ("It is a dog", "B"),       # no letter word: the one option text found
    ("A or B", None),                          # two letters named
    ("a horse or a cow", None),                # two option texts
    ("Cannot determine the answer", None),     # a refusal
    ("Z", None), ("", None),
])
def test_mmbench_extraction(reply, letter):
    assert mmbench_extract(reply, OPTIONS) == letter


def test_mmbench_extraction_only_knows_the_question_s_options():
    assert mmbench_extract("C", {"A": "yes", "B": "no"}) is None


def test_circular_eval_needs_every_rotation_right():
    rows = [(7, True), (1_000_007, False), (8, True), (1_000_008, True), (2_000_008, True)]
    accuracy, passed = circular_accuracy(rows)
    assert accuracy == 0.5 and passed == {7: False, 8: True}
    with pytest.raises(ValueError):
        circular_accuracy([])

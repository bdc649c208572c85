"""GQA exact match, ChartQA relaxed accuracy and DocVQA ANLS, from their rules."""

import pytest

from luq.tasks.metrics import anls, gqa_match, levenshtein, relaxed_correct


def test_gqa_ignores_case_and_punctuation_only():
    assert gqa_match("Yes.", "yes")
    assert gqa_match("tshirt", "t-shirt")
    assert not gqa_match("right", "left")
    assert not gqa_match("the left", "left")  # no article stripping in GQA


@pytest.mark.parametrize("reply, answer, right", [
    ("41.9", "40", True),     # 4.75 % off
    ("38", "40", True),       # exactly 5 %
    ("42.1", "40", False),    # 5.25 % off
    ("0.45", "45%", True),    # a trailing % divides by 100
    ("45%", "45%", True),
    ("yes", "Yes", True),     # not numbers: case-insensitive exact match
    ("0.0", "0", False),      # a zero answer is matched as text
    ("forty", "40", False),
])
def test_chartqa_relaxed_accuracy(reply, answer, right):
    assert relaxed_correct(reply, answer) is right


def test_levenshtein():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("help", "hello") == 2


def test_anls_by_hand():
    assert anls("hallo", ["hello"]) == pytest.approx(0.8)         # 1 - 1/5
    assert anls("HELLO", ["hello"]) == 1.0                          # case-insensitive
    assert anls(" hello  world", ["hello world"]) == 1.0            # whitespace collapsed
    assert anls("Help", ["hello", "help me"]) == pytest.approx(0.6)  # best of 1-2/5, 1-3/7
    assert anls("hxxxo", ["hello"]) == 0.0                          # 0.4 < 0.5 -> 0
    assert anls("helxx", ["hello"]) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        anls("x", [])

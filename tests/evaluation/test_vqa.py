"""The VQA metric, from the worked cases of the official rules (visualqa.org/evaluation.html)."""

import pytest

from luq.evaluation import vqa_accuracy
from luq.evaluation.vqa import normalize_textvqa_answer, normalize_vqa_answer


@pytest.mark.parametrize("raw, expected", [
    ("dont", "don't"),                    # a contraction gets its apostrophe
    ("100,978", "100978"),                # no space for a comma between digits
    ("2.5", "2.5"),                       # a decimal point stays ...
    ("Yes.", "yes"),                      # ... other periods go
    ("2:50 pm", "2:50 pm"),               # colons (times) stay
    ("girl's", "girl's"),                 # apostrophes (possessives) stay
    ("Two Dogs", "2 dogs"),               # lower case, number words to digits
    ("the cat", "cat"),                   # articles dropped
    ("an apple and a pear", "apple and pear"),
    ("black-and-white", "black and white"),  # mark touching no space -> a space
    ("yes, it is", "yes it is"),          # mark touching a space -> deleted
    ("none", "0"),
    (" red\n", "red"),
])
def test_official_normalisation(raw, expected):
    assert normalize_vqa_answer(raw) == expected


def test_textvqa_variant_splits_possessives_and_drops_commas_first():
    assert normalize_textvqa_answer("Coca-Cola's") == "coca cola 's"
    assert normalize_textvqa_answer("Hello, World?") == "hello world"
    assert normalize_vqa_answer("Coca-Cola's") == "coca cola's"


@pytest.mark.parametrize("matches, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9),
                                               (4, 1.0), (10, 1.0)])
def test_ten_annotator_accuracy_averages_the_leave_one_out_subsets(matches, expected):
    # k humans agree with the prediction: the k subsets without one of them see k-1 matches,
    # the 10-k others see k; each scores min(1, matches / 3).
    answers = ["red"] * matches + ["blue"] * (10 - matches)
    assert vqa_accuracy("Red.", answers) == pytest.approx(expected)


def test_answers_are_normalised_like_the_prediction():
    assert vqa_accuracy("2", ["two"] * 3 + ["3"] * 7) == pytest.approx(0.9)
    assert vqa_accuracy("a lot", ["lot"] * 10) == 1.0
    with pytest.raises(ValueError):
        vqa_accuracy("red", [])

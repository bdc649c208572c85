import pytest

from luq.evaluation import normalize_answer, vqa_accuracy


def test_normalisation():
    assert normalize_answer("  The Red. ") == "red"
    assert normalize_answer("a circle!") == "circle"


def test_vqa_accuracy():
    assert vqa_accuracy("red", ["red"] * 3 + ["blue"] * 7) == 1.0
    assert vqa_accuracy("Red", ["red", "blue", "blue"]) == pytest.approx(1 / 3)
    assert vqa_accuracy("green", ["red"] * 10) == 0.0
    with pytest.raises(ValueError):
        vqa_accuracy("red", [])

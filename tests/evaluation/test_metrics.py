from luq.evaluation import normalize_answer


def test_normalisation():
    assert normalize_answer("  The Red. ") == "red"
    assert normalize_answer("a circle!") == "circle"

"""The evaluation runner's scoring, batching and progress (answers stubbed)."""

import pytest
from datasets import Dataset

import luq.evaluation.runner as runner
from luq.evaluation import evaluate

ROWS = Dataset.from_list([
    {"image": None, "question": f"q{i}", "answer": a, "question_type": t}
    for i, (a, t) in enumerate([("red", "color"), ("two", "count"), ("left", "position"),
                                ("blue", "color"), ("one", "count")])])
PREDICTED = {"q0": "Red.", "q1": "two", "q2": "right", "q3": "the blue", "q4": "three"}


@pytest.fixture(autouse=True)
def stub_answers(monkeypatch):
    calls = []

    def answer_batch(model, processor, images, questions, max_new_tokens):
        calls.append(len(questions))
        return [PREDICTED[q] for q in questions]

    monkeypatch.setattr(runner, "answer_batch", answer_batch)
    return calls


def test_exact_match_overall_and_per_type(stub_answers):
    seen = []
    result = evaluate(None, None, ROWS, batch_size=2,
                      progress=lambda done, total, _msg: seen.append((done, total)))
    assert result.n == 5 and result.accuracy == pytest.approx(3 / 5)
    assert result.per_type == {"color": 1.0, "count": 0.5, "position": 0.0}
    assert stub_answers == [2, 2, 1]
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert result.predictions == tuple(PREDICTED.values())
    assert set(result.to_dict()) == {"accuracy", "n", "per_type", "seconds"}


def test_empty_split_is_refused():
    with pytest.raises(ValueError, match="empty"):
        evaluate(None, None, ROWS.select([]))

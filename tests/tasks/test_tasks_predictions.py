"""Predictions files: round trip, clear errors on bad lines, duplicates and missing documents."""

import pytest

from luq.tasks import load_docs, read_predictions, score_predictions, write_predictions


def test_round_trip(tmp_path):
    path = tmp_path / "p.jsonl"
    write_predictions(path, {2: "no", 0: 'say "yes"\n'})
    assert read_predictions(path) == {0: 'say "yes"\n', 2: "no"}
    path.write_text(path.read_text() + "\n\n")  # blank lines are fine
    assert len(read_predictions(path)) == 2


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 2: not JSON"),
    ('["a"]', "line 2: expected"),
    ('{"doc_id": 1}', "line 2: expected"),
    ('{"doc_id": "1", "prediction": "x"}', "doc_id must be an integer"),
    ('{"doc_id": -1, "prediction": "x"}', "doc_id must be an integer"),
    ('{"doc_id": true, "prediction": "x"}', "doc_id must be an integer"),
    ('{"doc_id": 1, "prediction": 3}', "prediction must be a string"),
    ('{"doc_id": 0, "prediction": "x"}', "line 2: doc_id 0 was already given"),
])
def test_bad_lines_are_named(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text('{"doc_id": 0, "prediction": "yes"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        read_predictions(path)


def test_missing_documents_are_listed_and_extra_ones_ignored(data):
    docs = load_docs("pope", str(data["pope"]))
    with pytest.raises(ValueError, match=r"no prediction for 2 of 6 documents \(doc_id 4, 5\)"):
        score_predictions("pope", docs, {i: "yes" for i in range(4)})
    result = score_predictions("pope", docs, {i: "yes" for i in range(10)})
    assert result["n"] == 6 and result["yes_ratio"] == 1.0


def test_a_sample_is_scored_by_doc_id(data):
    docs = load_docs("mme", str(data["mme"]), limit=2)
    answers = dict(zip(docs["doc_id"], docs["answer"]))
    result = score_predictions("mme", docs, answers)  # every answer right
    assert all(v == 200.0 for v in result["categories"].values()) and result["n"] == 2
    rows = [{k: docs[i][k] for k in ("question", "answer", "category", "question_id")}
            for i in range(len(docs))]
    assert score_predictions("mme", rows, dict(enumerate(docs["answer"])))["n"] == 2

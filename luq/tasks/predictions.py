"""Predictions on disk (JSONL, one ``{"doc_id": N, "prediction": "..."}`` a line) and scoring."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from luq.tasks.data import DOC_ID
from luq.tasks.registry import get_task
from luq.tasks.task import Task


def read_predictions(path: str | Path) -> dict[int, str]:
    """``doc_id -> prediction`` from a JSONL file (blank lines are skipped).

    Raises:
        ValueError: a line that is not a JSON object with an integer ``doc_id`` >= 0 and a
            string ``prediction``, or a ``doc_id`` given twice; the message names the line.
        FileNotFoundError: no such file.
    """
    predictions: dict[int, str] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not JSON ({err.msg})") from None
            if not isinstance(item, dict) or not {"doc_id", "prediction"} <= item.keys():
                raise ValueError(f'{where}: expected {{"doc_id": N, "prediction": "..."}}')
            doc_id, text = item["doc_id"], item["prediction"]
            if isinstance(doc_id, bool) or not isinstance(doc_id, int) or doc_id < 0:
                raise ValueError(f"{where}: doc_id must be an integer >= 0, got {doc_id!r}")
            if not isinstance(text, str):
                raise ValueError(f"{where}: prediction must be a string, got {text!r}")
            if doc_id in predictions:
                raise ValueError(f"{where}: doc_id {doc_id} was already given")
            predictions[doc_id] = text
    return predictions


def write_predictions(path: str | Path, predictions: Mapping[int, str]) -> None:
    """Writes ``predictions`` as JSONL that :func:`read_predictions` reads back."""
    with open(path, "w", encoding="utf-8") as out:
        for doc_id, text in sorted(predictions.items()):
            out.write(json.dumps({"doc_id": int(doc_id), "prediction": text}) + "\n")


def text_rows(docs) -> Iterator[dict]:
    """The documents as dicts without decoding images (a ``Dataset`` or a list of dicts)."""
    if isinstance(docs, list):
        yield from ({k: v for k, v in doc.items() if k != "image"} for doc in docs)
        return
    plain = docs.with_format(None)  # also drops GQA's image-joining transform
    if "image" in plain.column_names:
        plain = plain.remove_columns("image")
    yield from plain


def score_predictions(task: Task | str, docs, predictions: Mapping[int, str]) -> dict:
    """The task's metrics for ``predictions`` on ``docs``, plus ``n`` (documents scored).

    Predictions are matched to documents by ``doc_id`` (the position when the documents
    carry none); predictions for other documents are ignored, so a full run's file scores a
    sample too.

    Returns:
        e.g. MME ``{"perception", "cognition", "categories", "n"}``; VQA tasks
        ``{"accuracy" (0-1), ..., "n"}``; POPE ``{"accuracy", "precision", "recall", "f1",
        "yes_ratio", "categories", "n"}``.

    Raises:
        ValueError: no documents, or a document has no prediction.
    """
    task = get_task(task)
    rows = list(text_rows(docs))
    if not rows:
        raise ValueError("nothing to score: no documents")
    ids = [row.get(DOC_ID, i) for i, row in enumerate(rows)]
    missing = [i for i in ids if i not in predictions]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"{task.name}: no prediction for {len(missing)} of {len(ids)} "
                         f"documents (doc_id {shown})")
    records = [task.score(row, predictions[i]) for row, i in zip(rows, ids)]
    return {**task.aggregate(records), "n": len(records)}

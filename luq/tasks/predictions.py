"""Predictions on disk (JSONL, one ``{"doc_id": N, "prediction": "..."}`` a line) and scoring."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from luq.tasks.data import DOC_ID
from luq.tasks.registry import get_task
from luq.tasks.task import HARNESSES, Task


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


def _flat(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    """Numeric metrics with nested keys joined by dots ("categories.random.f1")."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def score_predictions(task: Task | str, docs, predictions: Mapping[int, str],
                      harness: str = "official", per_doc: bool = False) -> dict:
    """The task's metrics for ``predictions`` on ``docs`` under a rule set, plus ``n``.

    Every reply is stripped before any rule (as every harness does). Predictions are matched
    to documents by ``doc_id`` (the position when the documents carry none); predictions for
    other documents are ignored, so a full run's file scores a sample too.

    Args:
        task: a task or its name.
        docs: the documents (a ``Dataset`` or a list of dicts).
        predictions: ``doc_id -> reply``.
        harness: "official" (each benchmark's own rules) or "lmms-eval" (lmms-eval 0.7.3's
            scoring as it runs).
        per_doc: also return ``per_doc``: ``{"doc_id", "prediction", "official",
            "lmms-eval"}`` per document (its score under each rule set).

    Returns:
        The metrics (e.g. MME ``{"perception", "cognition", "categories"}``; VQA tasks
        ``{"accuracy" (0-1), ...}``; POPE ``{"accuracy", "precision", "recall", "f1",
        "yes_ratio", "categories"}``), ``n``, ``harness``, and ``differs``: for each metric
        whose value under the other rule set is not the same,
        ``{"official": x, "lmms-eval": y}`` (nested metrics named with dots).

    Raises:
        ValueError: no documents, a document has no prediction, or an unknown harness.
    """
    task = get_task(task)
    task.rules(harness)  # an unknown harness fails before any work
    rows = list(text_rows(docs))
    if not rows:
        raise ValueError("nothing to score: no documents")
    ids = [row.get(DOC_ID, i) for i, row in enumerate(rows)]
    missing = [i for i in ids if i not in predictions]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"{task.name}: no prediction for {len(missing)} of {len(ids)} "
                         f"documents (doc_id {shown})")
    replies = [predictions[i].strip() for i in ids]
    records = {h: [task.rules(h).score(row, reply) for row, reply in zip(rows, replies)]
               for h in HARNESSES}
    metrics = {h: task.rules(h).aggregate(records[h]) for h in HARNESSES}
    result = {**metrics[harness], "n": len(rows), "harness": harness}
    flat = {h: _flat(m) for h, m in metrics.items()}
    result["differs"] = {
        key: {h: flat[h].get(key) for h in HARNESSES}
        for key in sorted(flat["official"].keys() | flat["lmms-eval"].keys())
        if flat["official"].get(key) != flat["lmms-eval"].get(key)}
    if per_doc:
        result["per_doc"] = [
            {"doc_id": i, "prediction": predictions[i],
             **{h: float(records[h][k]["score"]) for h in HARNESSES}}
            for k, i in enumerate(ids)]
    return result

"""Answering a task's documents with a model, then scoring the answers."""

from __future__ import annotations

import time
from collections.abc import Callable

from luq.evaluation.answer import answer_batch
from luq.progress import Progress
from luq.tasks.data import DOC_ID
from luq.tasks.predictions import score_predictions
from luq.tasks.registry import get_task
from luq.tasks.task import Task

Answerer = Callable[[list, list[str], int], list[str]]


def _rows(docs, start: int, stop: int) -> list[dict]:
    if isinstance(docs, list):
        return docs[start:stop]
    batch = docs[start:stop]
    return [dict(zip(batch, values)) for values in zip(*batch.values())]


def run_task(model, processor, task: Task | str, docs, batch_size: int = 8,
             progress: Progress | None = None, max_new_tokens: int | None = None,
             answer: Answerer | None = None, harness: str = "official") -> dict:
    """Greedy answers to every document, scored by the task's rules.

    Each document's prompt is ``task.prompt(doc)`` with its image, answered by
    :func:`luq.evaluation.answer_batch` (the processor's chat template, greedy decoding).

    Args:
        model: an image-text-to-text model.
        processor: its processor.
        task: a task or its name.
        docs: from :func:`luq.tasks.load_docs` (or a list of document dicts).
        batch_size: documents answered together.
        progress: ``progress(done, total, message)`` after each batch.
        max_new_tokens: overrides the task's decoding budget.
        answer: answers a batch another way (``answer(images, prompts, max_new_tokens)`` ->
            replies), e.g. through llama.cpp; ``model`` and ``processor`` are then unused.
        harness: the rule set the replies are scored by ("official" or "lmms-eval").

    Returns:
        :func:`score_predictions`'s dict plus ``predictions`` (``[{"doc_id", "prediction"}]``,
        ready for JSONL) and ``seconds``.

    Raises:
        ValueError: no documents, a document without an image, or ``batch_size`` < 1.
    """
    task = get_task(task)
    task.rules(harness)  # an unknown harness fails before any answer
    n = len(docs)
    if n == 0:
        raise ValueError("nothing to evaluate: no documents")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    start_time = time.perf_counter()
    predictions: dict[int, str] = {}
    for start in range(0, n, batch_size):
        rows = _rows(docs, start, min(n, start + batch_size))
        ids = [row.get(DOC_ID, start + i) for i, row in enumerate(rows)]
        if any(row.get("image") is None for row in rows):
            raise ValueError(f"{task.name}: a document in doc_id {ids[0]}..{ids[-1]} has no "
                             "image")
        images, prompts = [row["image"] for row in rows], [task.prompt(row) for row in rows]
        tokens = max_new_tokens or task.max_new_tokens
        replies = (answer(images, prompts, tokens) if answer is not None
                   else answer_batch(model, processor, images, prompts, tokens))
        predictions.update(zip(ids, replies))
        if progress:
            progress(min(n, start + batch_size), n, f"{task.name}: answering")
    result = score_predictions(task, docs, predictions, harness)
    result["predictions"] = [{"doc_id": i, "prediction": p} for i, p in predictions.items()]
    result["seconds"] = time.perf_counter() - start_time
    return result

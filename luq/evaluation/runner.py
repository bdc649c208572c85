"""Evaluation runner: greedy answers for a split, exact-match accuracy overall and per type."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from luq.evaluation.answer import answer_batch, normalize_answer
from luq.progress import Progress


@dataclass(frozen=True)
class EvalResult:
    """Exact-match accuracy of greedy answers."""

    accuracy: float
    n: int
    per_type: dict[str, float]
    seconds: float
    predictions: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict:
        return {"accuracy": round(self.accuracy, 4), "n": self.n,
                "per_type": {k: round(v, 4) for k, v in self.per_type.items()},
                "seconds": round(self.seconds, 3)}


def evaluate(model, processor, rows, batch_size: int = 32, max_new_tokens: int = 3,
             progress: Progress | None = None) -> EvalResult:
    """Scores greedy answers on ``rows`` (image, question, answer[, question_type]).

    A prediction is right when its normalised text equals the normalised answer.
    """
    n = len(rows)
    if n == 0:
        raise ValueError("nothing to evaluate: the split is empty")
    start = time.perf_counter()
    predictions: list[str] = []
    for i in range(0, n, batch_size):
        chunk = rows[i:i + batch_size]
        predictions += answer_batch(model, processor, chunk["image"], chunk["question"],
                                    max_new_tokens)
        if progress:
            progress(min(i + batch_size, n), n, "answering")
    answers = rows["answer"]
    types = rows["question_type"] if "question_type" in rows.column_names else ["all"] * n
    right = [normalize_answer(p) == normalize_answer(a) for p, a in zip(predictions, answers)]
    per_type: dict[str, list[bool]] = {}
    for t, r in zip(types, right):
        per_type.setdefault(t, []).append(r)
    return EvalResult(sum(right) / n, n, {t: sum(v) / len(v) for t, v in sorted(per_type.items())},
                      time.perf_counter() - start, tuple(predictions))

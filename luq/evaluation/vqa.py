"""The VQA accuracy metric for datasets with several human answers per question."""

from __future__ import annotations

from luq.evaluation.answer import normalize_answer


def vqa_accuracy(prediction: str, annotator_answers: list[str]) -> float:
    """``min(#annotators who gave the prediction / 3, 1)`` after normalisation.

    (The official metric averages this over the 10 leave-one-out subsets of 9 annotators;
    this is the common simplified form.)
    """
    if not annotator_answers:
        raise ValueError("vqa_accuracy needs at least one annotator answer")
    pred = normalize_answer(prediction)
    matches = sum(normalize_answer(a) == pred for a in annotator_answers)
    return min(matches / 3.0, 1.0)

"""Yes/no benchmarks: MME (scores per category) and POPE (hallucination as binary retrieval).

MME follows the MME evaluation tool as lmms-eval runs it; POPE follows lmms-eval's metrics,
with the yes-ratio of the POPE paper (see :func:`pope_metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene",
              "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation",
             "code_reasoning")


def mme_parse(reply: str) -> str:
    """A reply read as ``"yes"``, ``"no"`` or ``"other"``.

    Lower-cased, stripped, periods dropped; "yes"/"no" as is, "y"/"n" too; any other
    one-character reply is "other"; else the first 4 characters decide: containing "yes" ->
    yes, else containing "no" -> no, else other.
    """
    text = reply.lower().strip().replace(".", "")
    if text in ("yes", "no"):
        return text
    if len(text) == 1:
        return {"y": "yes", "n": "no"}.get(text, "other")
    head = text[:4]
    if "yes" in head:
        return "yes"
    return "no" if "no" in head else "other"


def mme_category_scores(results: Iterable[tuple[str, str, bool]]) -> dict[str, float]:
    """MME's score of each category, out of 200.

    Per image (its two questions): acc = 100 x the share answered right, acc+ = 100 when
    all are right; the category score is the mean over its images of acc + acc+.

    Args:
        results: ``(category, image id, right)`` per question; the image id is MME's
            ``question_id`` (the image path both questions of an image share).

    Example:
        two images, one with both answers right (100 + 100) and one with one right (50 + 0):
        the category scores (200 + 50) / 2 = 125.
    """
    images: dict[str, dict[str, list[bool]]] = {}
    for category, image, right in results:
        images.setdefault(category, {}).setdefault(image, []).append(bool(right))
    scores = {}
    for category, per_image in images.items():
        total = sum(100.0 * sum(r) / len(r) + 100.0 * all(r) for r in per_image.values())
        scores[category] = total / len(per_image)
    return scores


def pope_metrics(replies: Sequence[str], answers: Sequence[str]) -> dict[str, float]:
    """POPE's accuracy, precision, recall, F1 and yes-ratio; "yes" is the positive class.

    A reply counts only when, lower-cased and stripped, it equals "yes" or "no" (lmms-eval);
    anything else is wrong and is neither a positive nor a negative prediction.
    ``yes_ratio`` is the share of *replies* that are "yes", as in the POPE paper (lmms-eval's
    ``pope_yes_ratio`` is the share of "yes" among the ground-truth answers instead, which
    does not depend on the model).

    Args:
        replies: the model's replies.
        answers: the ground truth, "yes" or "no" (any case).

    Raises:
        ValueError: lengths differ, nothing to score, or an answer is not yes/no.
    """
    if len(replies) != len(answers) or not answers:
        raise ValueError("pope_metrics needs as many replies as answers, at least one")
    preds = [r.lower().strip() for r in replies]
    golds = [a.lower().strip() for a in answers]
    if any(g not in ("yes", "no") for g in golds):
        raise ValueError("POPE answers must be yes or no")
    pairs = list(zip(preds, golds))
    tp = pairs.count(("yes", "yes"))
    fp = pairs.count(("yes", "no"))
    fn = pairs.count(("no", "yes"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": sum(p == g for p, g in pairs) / len(pairs), "precision": precision,
            "recall": recall, "f1": f1, "yes_ratio": preds.count("yes") / len(preds)}

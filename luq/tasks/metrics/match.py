"""String-matching rules: GQA exact match, ChartQA relaxed accuracy, DocVQA ANLS."""

from __future__ import annotations

import string
from collections.abc import Sequence

_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def gqa_match(reply: str, answer: str) -> bool:
    """GQA exact match: equal after lower-casing, deleting every ASCII punctuation character
    and stripping ("yes ." is "yes"; lmms-eval does not strip after deleting, see
    :func:`luq.tasks.metrics.lmms_eval.gqa_match`)."""
    def clean(text: str) -> str:
        return text.lower().translate(_NO_PUNCTUATION).strip()

    return clean(reply) == clean(answer)


def _to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correct(reply: str, answer: str, max_relative_change: float = 0.05) -> bool:
    """ChartQA's relaxed accuracy (Methani et al. 2020, as in the ChartQA paper and lmms-eval).

    When the reply is a number and the answer a non-zero number, right if within 5 % of the
    answer (a trailing "%" divides by 100 on either side, so "45%" equals 0.45); otherwise
    right only on a case-insensitive exact match.

    Example: answer "40": "41.9" is right (4.75 %), "42.1" is wrong (5.25 %).
    """
    pred, gold = _to_float(reply), _to_float(answer)
    if pred is not None and gold:
        return abs(pred - gold) / abs(gold) <= max_relative_change
    return reply.lower() == answer.lower()


def levenshtein(a: str, b: str) -> int:
    """Edit distance: insertions, deletions and substitutions, each costing 1."""
    if len(a) > len(b):
        a, b = b, a
    row = list(range(len(a) + 1))
    for j, cb in enumerate(b, 1):
        prev, row[0] = row[0], j
        for i, ca in enumerate(a, 1):
            prev, row[i] = row[i], min(row[i] + 1, row[i - 1] + 1, prev + (ca != cb))
    return row[-1]


def anls(reply: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """Average Normalized Levenshtein Similarity of one reply (DocVQA's official script).

    Both strings are stripped, lower-cased and their whitespace collapsed; the normalised
    distance to each answer is ``levenshtein / max(len(answer), len(reply))`` (lengths of the
    strings as given); the score is ``1 - min distance``, or 0 when below ``threshold``.

    Example: answer "hello", reply "hallo": 1 - 1/5 = 0.8; reply "help": 1 - 2/5 = 0.6;
    reply "hxxxo": 1 - 3/5 = 0.4 -> 0.

    Raises:
        ValueError: no answers.
    """
    if not answers:
        raise ValueError("anls needs at least one answer")
    pred = " ".join(reply.strip().lower().split())
    distances = []
    for answer in answers:
        gold = " ".join(answer.strip().lower().split())
        length = max(len(answer.upper()), len(reply.upper()))
        distances.append(levenshtein(gold, pred) / length if length else 0.0)
    score = 1.0 - min(distances)
    return score if score >= threshold else 0.0

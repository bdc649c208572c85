"""lmms-eval 0.7.3's scoring rules as they run, quirks included (``--harness lmms-eval``).

Written from lmms-eval's own task code (the ``lmms_eval`` wheel on PyPI), rule by rule, for
the metrics where it differs from the benchmark's official rule (:mod:`luq.tasks.metrics`,
:mod:`luq.evaluation.vqa`). Replies reach these functions stripped, as lmms-eval's
``ConfigurableTask.process_results`` strips every generated reply (``api/task.py``).

- VQAv2 (``tasks/vqav2/utils.py``): no lower-casing step of its own before the punctuation
  rule; the comma rule is ``(?<=\\d)(\\,)+(?=\\d)`` (so "1,,000" is a number); at most 32
  periods removed; the leave-one-out compares whole answer records.
- TextVQA (``tasks/textvqa/utils.py``, ``_task_utils/vqa_eval_metric.py``): EvalAI's answer
  processor with the same 32-period limit.
- GQA (``tasks/gqa/gqa.yaml``, ``api/metrics.py``): exact match after lower-casing and
  deleting ``string.punctuation``, with no strip afterwards ("yes ." is wrong).
- POPE (``tasks/pope/utils.py``): ``pope_yes_ratio`` is the share of "yes" in the ground
  truth, not in the replies.
- MMBench (``tasks/mmbench/mmbench_evals.py``, ``_task_utils/mcq_extract.py``):
  ``mmbench_en_dev_static``: the older MMBench rule (letters A-E as whitespace-split words, a
  reply of more than 3 words holding the word "A" read as text), then option text, then
  lmms-eval's regex-free letter extraction; only questions whose original (index < 1e6) is
  present count.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping, Sequence

from luq.evaluation.vqa import process_digit_article, process_punctuation

PERIODS = 32  # re.UNICODE passed as re.sub's count
_COMMA = re.compile(r"(?<=\d)(\,)+(?=\d)")
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def vqa_normalize(text: str) -> str:
    """lmms-eval's VQAv2 normalisation: newlines and tabs to spaces, strip, the punctuation
    rule (its comma pattern, 32 periods at most), then numbers, articles and contractions."""
    return process_digit_article(process_punctuation(_clean(text), _COMMA, PERIODS))


def textvqa_normalize(text: str) -> str:
    """EvalAI's answer processor as lmms-eval runs it (``EvalAIAnswerProcessor.__call__``):
    lower-case, delete "," and "?", split "'s", strip; then :func:`vqa_normalize`."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return vqa_normalize(text)


def vqav2_accuracy(reply: str, answers: Sequence[Mapping]) -> float:
    """``vqav2_process_results``: every answer record normalised in place, then for each record
    ``min(1, matches among the records unequal to it / 3)``, averaged.

    A record equal to another one as a whole (answer, confidence and id) leaves both out of
    each other's comparison set, as lmms-eval's ``item != gtAnsDatum`` does.
    """
    if not answers:
        raise ValueError("vqav2_accuracy needs at least one answer")
    records = [{**a, "answer": vqa_normalize(a["answer"])} for a in answers]
    pred = vqa_normalize(reply)
    scores = []
    for record in records:
        others = [r for r in records if r != record]
        scores.append(min(1.0, sum(r["answer"] == pred for r in others) / 3))
    return sum(scores) / len(scores)


def textvqa_accuracy(reply: str, answers: Sequence[str]) -> float:
    """``textvqa_process_results``: leave-one-out by position over EvalAI-processed answers."""
    if not answers:
        raise ValueError("textvqa_accuracy needs at least one answer")
    pred = textvqa_normalize(reply)
    golds = [textvqa_normalize(a) for a in answers]
    scores = [min(1.0, sum(g == pred for j, g in enumerate(golds) if j != i) / 3)
              for i in range(len(golds))]
    return sum(scores) / len(scores)


def gqa_match(reply: str, answer: str) -> bool:
    """``exact_match`` with ``ignore_case`` and ``ignore_punctuation``: lower-case, delete
    ASCII punctuation, compare (no strip after: "yes ." becomes "yes " and is wrong)."""
    return reply.lower().translate(_NO_PUNCTUATION) == answer.lower().translate(_NO_PUNCTUATION)


def pope_yes_ratio(answers: Sequence[str]) -> float:
    """``pope_aggregate_yes_ratio``: the share of "yes" among the ground-truth answers."""
    golds = [a.lower().strip() for a in answers]
    yes, no = golds.count("yes"), golds.count("no")
    return yes / (yes + no) if yes + no else 0.0


# -- MMBench, mmbench_en_dev_static ----------------------------------------------------------

_AFFIXES = [("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."),
            (":", ""), (":", ","), (":", "."), (":", ")"), (":", ").")]
_MCQ_PHRASES = (
    "the answer is", "answer is", "the correct answer is", "correct answer is",
    "the best answer is", "best answer is", "the correct option is", "correct option is",
    "the best option is", "best option is", "the choice is", "choice is",
    "the correct choice is", "correct choice is", "i choose", "i select", "i pick",
    "my answer is", "my choice is",
    "옵션", "정답은", "답은", "답:", "答案是", "答案为", "选", "答えは")
_MCQ_PRIORITY = {"start": 10, "end": 9, "phrase": 7, "parentheses": 6, "period": 5, "colon": 4,
                 "right_paren": 3, "space": 2, "fallback": 0}


def mmbench_choices(doc: Mapping) -> dict[str, str]:
    """``build_choices``: options A-D whose cell is not missing (None or NaN); an empty or
    "nan" text counts as an option, as pandas sees it, and so does a column the document
    lacks (``mmbench_process_results`` fills it with "nan"). E is never a choice here."""
    cells = {ch: doc.get(ch, "nan") for ch in "ABCD"}
    return {ch: v for ch, v in cells.items()
            if not (v is None or (isinstance(v, float) and math.isnan(v)))}


def can_infer_option(reply: str) -> str | None:
    """``can_infer_option``: a single letter A-E among the reply's words, unless the word "A"
    is there in a reply of more than 3 words; else a single letter with one of the affixes
    ("B.", "(C)", ":D", ...)."""
    letters = "ABCDE"
    if "Failed to obtain answer via API" in reply:
        return None
    words = [w.strip() for w in reply.split()]

    def found(prefix: str = "", suffix: str = "") -> list[str]:
        return [c for c in letters if prefix + c + suffix in words]

    if len(found()) == 1 and not ("A" in words and len(words) > 3):
        return found()[0]
    for prefix, suffix in _AFFIXES:
        hits = found(prefix, suffix)
        if len(hits) == 1:
            return hits[0]
    return None


def can_infer_text(reply: str, choices: Mapping[str, object]) -> str | None:
    """``can_infer_text``: the one option whose text (lower-cased) is in the lower-cased reply."""
    lowered = reply.lower()
    hits = [k for k, text in choices.items() if str(text).lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def extract_mcq_answer(reply: str, choices: Sequence[str]) -> str:
    """``_task_utils/mcq_extract.extract_mcq_answer``: candidates by format, the last
    occurrence in the highest-priority format wins; "" when none."""
    if not reply or not reply.strip():
        return ""
    text = reply.strip()
    for char in ",.!?;:'\"":
        text = text.strip(char)
    text = f" {text} "
    candidates = []
    for fmt, pattern in (("parentheses", "({})"), ("period", "{}."), ("colon", "{}:"),
                         ("right_paren", "{})"), ("space", "{} ")):
        candidates += [(ch, text.rfind(pattern.format(ch)), fmt) for ch in choices
                       if pattern.format(ch) in text]
    lowered = text.lower()
    for phrase in _MCQ_PHRASES:
        at = lowered.find(phrase)
        if at != -1:
            after = at + len(phrase)
            candidates += [(ch, text.find(ch, after), "phrase") for ch in choices
                           if text.find(ch, after) != -1]
    stripped = text.strip()
    candidates += [(ch, 0, "start") for ch in choices if stripped.startswith(ch)
                   and (len(stripped) == 1 or not stripped[1].isalpha())]
    candidates += [(ch, len(text) - 1, "end") for ch in choices if stripped.endswith(ch)
                   and (len(stripped) == 1 or not stripped[-2].isalpha())]
    if not candidates:
        candidates = [(ch, text.rfind(ch), "fallback") for ch in choices if ch in text]
    if not candidates:
        return ""
    candidates.sort(key=lambda c: (_MCQ_PRIORITY[c[2]], c[1]), reverse=True)
    return candidates[0][0]


def mmbench_pick(reply: str, doc: Mapping) -> str:
    """The letter ``mmbench_en_dev_static`` reads from one reply: the rule-based
    ``can_infer`` (option letter, then option text), else :func:`extract_mcq_answer` over the
    sorted choices ("" when nothing is found)."""
    choices = mmbench_choices(doc)
    return (can_infer_option(reply) or can_infer_text(reply, choices)
            or extract_mcq_answer(reply, sorted(choices)))

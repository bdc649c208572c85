"""Multiple-choice rules: ScienceQA's option letter, MMBench's choice extraction and
CircularEval."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# MMBench's heuristic matching (OpenCompass VLMEvalKit ``can_infer``), the step that runs
# before its optional ChatGPT matcher; without the matcher an unmatched reply is wrong.
_SEPARATORS = ".()[],:;!*#{}"
_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
             "I'm sorry, but without the image provided", "Cannot determine the answer")
CIRCULAR_STRIDE = 1_000_000
"""MMBench stores the k-th rotation of question ``i`` at index ``i + k * 1e6``."""


def scienceqa_correct(reply: str, answer: int, n_choices: int) -> bool:
    """ScienceQA (LLaVA / lmms-eval rule): the reply, stripped, is the answer's letter in any
    case, or starts with an upper-case letter and a period ("B. cats") naming that letter.

    Args:
        reply: the model's reply.
        answer: index of the right choice (0 -> "A").
        n_choices: how many choices the question has.
    """
    if not 0 <= answer < n_choices:
        raise ValueError(f"answer index {answer} outside the {n_choices} choices")
    target = chr(ord("a") + answer)
    pred = reply.strip()
    if pred.lower() == target:
        return True
    return len(pred) >= 2 and pred[0].isupper() and pred[1] == "." and pred[0].lower() == target


def mmbench_extract(reply: str, options: Mapping[str, str]) -> str | None:
    """The option letter a reply names, or None when no rule finds exactly one.

    1. Refusals (VLMEvalKit's list) pick nothing.
    2. With ``.()[],:;!*#{}`` replaced by spaces, the reply's words are searched for the
       option letters: exactly one present -> that letter ("B", "(B) cat", "B. cat").
       A lone "Z" word picks nothing.
    3. Otherwise, when exactly one option's text (lower-case) occurs in the lower-cased
       reply, that option.

    Args:
        reply: the model's reply.
        options: letter -> option text, only the options the question has.
    """
    if any(refusal in reply for refusal in _REFUSALS):
        return None
    spaced = reply
    for char in _SEPARATORS:
        spaced = spaced.replace(char, " ")
    words = spaced.split()
    named = [letter for letter in options if letter in words]
    if len(named) == 1:
        return named[0]
    if not named and "Z" in words:
        return None
    lowered = reply.lower()
    by_text = [letter for letter, text in options.items() if str(text).lower() in lowered]
    return by_text[0] if len(by_text) == 1 else None


def circular_accuracy(results: Iterable[tuple[int, bool]]) -> tuple[float, dict[int, bool]]:
    """MMBench's CircularEval: a question counts only when every rotation of it is right.

    Args:
        results: ``(index, right)`` per row; rows whose ``index % 1e6`` agree are rotations
            of one question (the original has ``index < 1e6``).

    Returns:
        The share of questions passed, and pass/fail per question (keyed by
        ``index % 1e6``).

    Example:
        rows 7 (right), 1000007 (wrong), 8 (right), 1000008 (right) -> question 7 fails,
        question 8 passes: 0.5.
    """
    passed: dict[int, bool] = {}
    for index, right in results:
        key = int(index) % CIRCULAR_STRIDE
        passed[key] = passed.get(key, True) and bool(right)
    if not passed:
        raise ValueError("circular_accuracy needs at least one row")
    return sum(passed.values()) / len(passed), passed

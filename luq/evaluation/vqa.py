"""The VQA accuracy metric and its answer normalisation (VQAv2, TextVQA).

Written from the official rules (visualqa.org/evaluation.html and GT-Vision-Lab/VQA
``vqaEval.py``): an answer is normalised (punctuation, periods, case, number words, articles,
contractions), then scored against the 10 human answers as
``min(1, #matches among the other 9 / 3)``, averaged over the 10 leave-one-out subsets.
"Done for ground truth answers as well", so both sides are normalised the same way.

TextVQA in lmms-eval (and EvalAI / MMF's ``EvalAIAnswerProcessor``) first lower-cases, deletes
commas and question marks and splits ``'s`` off the word: :func:`normalize_textvqa_answer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# The official table, entries as published (a few can never match after lower-casing, and
# "somebody'd" -> "somebodyd" is a known typo there, kept so scores match the official code).
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = frozenset({"a", "an", "the"})
# Apostrophes and colons are kept on purpose ("girl's", "2:50 pm").
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<",
               "@", "`", ",", "?", "!")
_COMMA_IN_NUMBER = re.compile(r"(\d)(,)(\d)")
# The official pattern is "(?!<=\d)(\.)(?!\d)": its "(?!<=\d)" is a look-ahead that always
# holds before a ".", so in effect a period is removed unless a digit follows ("2.5" stays).
_PERIOD = re.compile(r"\.(?!\d)")


def process_punctuation(text: str, comma: re.Pattern = _COMMA_IN_NUMBER,
                        periods: int = 0) -> str:
    """The official punctuation step.

    Each mark is deleted when it touches a space somewhere in the text, or when the text holds
    a comma between digits ("100,978" -> "100978"); otherwise it becomes a space
    ("black-and-white" -> "black and white"). Then periods not followed by a digit go.

    Args:
        text: the answer.
        comma: what counts as "a comma between digits".
        periods: at most this many periods are removed (0: all). The official ``vqaEval.py``
            and lmms-eval pass ``re.UNICODE`` (32) as ``sub``'s count argument by mistake;
            :mod:`luq.tasks.metrics.lmms_eval` reproduces that with 32.
    """
    out = text
    in_number = comma.search(text) is not None
    for mark in PUNCTUATION:
        if mark + " " in text or " " + mark in text or in_number:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD.sub("", out, count=periods)


def process_digit_article(text: str) -> str:
    """Lower-case; number words zero..ten (and "none") to digits; articles dropped; contractions
    given their apostrophe ("dont" -> "don't"); words re-joined by single spaces."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_vqa_answer(text: str) -> str:
    """An answer (machine or human) as the official VQA evaluation compares it.

    Example: ``"Two Dogs."`` -> ``"2 dogs"``; ``"100,978"`` -> ``"100978"``.
    """
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def normalize_textvqa_answer(text: str) -> str:
    """TextVQA's variant (lmms-eval / EvalAI): lower-case, delete "," and "?", split "'s" into
    " 's", strip; then :func:`normalize_vqa_answer`.

    Example: ``"Coca-Cola's"`` -> ``"coca cola 's"``.
    """
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return normalize_vqa_answer(text)


def vqa_accuracy(prediction: str, annotator_answers: Sequence[str],
                 normalize: Callable[[str], str] = normalize_vqa_answer) -> float:
    """The VQA accuracy of one prediction, in [0, 1].

    For each human answer ``i``: ``min(1, (#other answers equal to the prediction) / 3)``;
    the result is the mean over the ``i`` (the 10 leave-one-out subsets of 9 annotators).
    With 10 answers, 3 matches give 0.9, 2 give 0.6, 1 gives 0.3, 4 or more give 1.

    Args:
        prediction: the model's answer.
        annotator_answers: the human answers (10 in VQAv2 and TextVQA).
        normalize: applied to the prediction and to every human answer.

    Raises:
        ValueError: no human answers.
    """
    if not annotator_answers:
        raise ValueError("vqa_accuracy needs at least one annotator answer")
    pred = normalize(prediction)
    matches = [normalize(a) == pred for a in annotator_answers]
    total = sum(matches)
    return sum(min(1.0, (total - m) / 3.0) for m in matches) / len(matches)

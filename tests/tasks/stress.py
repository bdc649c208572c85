"""Documents (hub schema, images left out: scoring never reads them) and replies written to
stress answer normalisation: case, punctuation, articles, number words, surrounding
whitespace, units and percents, near misses, option letters in brackets or prose, empty and
multi-line replies.

``CASES[task] = (documents, replies)``. ``tests/tasks/test_harness.py`` holds the values
lmms-eval 0.7.3's own task code gives on them (``python -m benchmarks.harness_parity``
re-derives those values from an unpacked lmms-eval wheel and compares).
"""

from __future__ import annotations


def _mme() -> tuple[list[dict], list[str]]:
    pairs = [("existence/000.png", "existence"), ("count/001.png", "count"),
             ("OCR/002.jpg", "OCR"), ("artwork/003.jpg", "artwork"),
             ("code_reasoning/004.png", "code_reasoning"),
             ("numerical_calculation/005.png", "numerical_calculation")]
    docs = [{"question_id": path, "question": f"Is it {answer}? Please answer yes or no.",
             "answer": answer, "category": category}
            for path, category in pairs for answer in ("Yes", "No")]
    replies = [" Yes.", "no\n", "YES, there are two", "Not really", "", "N", "y", "Yes\nNo",
               " no ", "The answer is no", "Nope.", "no"]
    return docs, replies


def _pope() -> tuple[list[dict], list[str]]:
    rows = [("yes", "adversarial"), ("yes", "adversarial"), ("no", "adversarial"),
            ("no", "popular"), ("yes", "popular"), ("no", "popular"), ("yes", "random"),
            ("no", "random"), ("yes", "random"), ("no", "random")]
    docs = [{"id": str(i), "question_id": str(i + 1), "question": "Is there a dog in the image?",
             "answer": answer, "image_source": f"COCO_{i:012d}", "category": category}
            for i, (answer, category) in enumerate(rows)]
    replies = [" Yes", "yes.", "No", "no\n", "", "Yes, there is a dog.", "NO", " maybe ",
               "Yes", "no"]
    return docs, replies


def _ten(*counted: tuple[str, int]) -> list[str]:
    answers = [a for a, n in counted for _ in range(n)]
    assert len(answers) == 10
    return answers


PERIODS = "yes" + "." * 40  # more than the 32 periods lmms-eval removes


def _textvqa() -> tuple[list[dict], list[str]]:
    answers = [_ten(("coca cola", 3), ("coke", 7)), _ten(("nokia", 10)),
               _ten(("two", 2), ("3", 8)), _ten(("1,000", 4), ("1000", 6)),
               _ten(("yes", 10)), _ten(("12%", 5), ("12", 5)), _ten(("coca-cola's", 10)),
               _ten(("the beatles", 6), ("beatles", 4)), _ten(("stop", 10)),
               _ten(("don't walk", 5), ("dont walk", 5))]
    docs = [{"question_id": 34602 + i, "question": "what is written?", "answers": a,
             "image_id": f"img{i}", "ocr_tokens": []} for i, a in enumerate(answers)]
    replies = ["Coca-Cola", "  NOKIA  ", "Two", "1,,000", PERIODS, "12 %", "Coca-Cola's",
               "The Beatles.", "stop\nsign", "Dont walk"]
    return docs, replies


def _vqav2() -> tuple[list[dict], list[str]]:
    answers = [_ten(("yes", 10)), _ten(("2", 3), ("3", 7)), _ten(("red", 1), ("blue", 9)),
               _ten(("1000", 10)), _ten(("yes", 10)), _ten(("red", 10)),
               _ten(("don't know", 4), ("unknown", 6)), _ten(("10%", 5), ("10 percent", 5)),
               _ten(("t-shirt", 5), ("t shirt", 5)), _ten(("no", 10)), _ten(("5,000", 10))]
    types = ["yes/no", "number", "other", "number", "yes/no", "other", "other", "number",
             "other", "yes/no", "number"]
    docs = [{"question_id": 1000 + i, "question": "?", "answer_type": t,
             "question_type": "what", "multiple_choice_answer": a[-1],
             "answers": [{"answer": x, "answer_confidence": "yes", "answer_id": j + 1}
                         for j, x in enumerate(a)]}
            for i, (a, t) in enumerate(zip(answers, types))]
    replies = [" Yes ", "two", "\tblue\n", "1,,000", PERIODS, "The red one.", "dont know",
               "10 %", "T-shirt", "", "5,,000"]
    return docs, replies


def _gqa() -> tuple[list[dict], list[str]]:
    answers = ["yes", "no", "left", "t-shirt", "t-shirt", "blue", "yes", "man", "no", "white"]
    docs = [{"id": f"20{i}", "imageId": f"n{i}", "question": "?", "answer": a,
             "fullAnswer": "", "isBalanced": True, "semanticStr": ""}
            for i, a in enumerate(answers)]
    replies = ["yes .", "( no )", " Left", "T-Shirt", "tshirt", "blue\n", "", "The man",
               "No.", "white, gray"]
    return docs, replies


def _scienceqa() -> tuple[list[dict], list[str]]:
    choices = ["cat", "duck", "fish"]
    answers = [1, 1, 1, 1, 0, 2, 0, 1, 2, 0]
    docs = [{"question": "Which?", "choices": choices, "answer": a, "hint": ""}
            for a in answers]
    replies = ["(B)", "B", " b ", "B. duck", "The answer is A", "", "a.", "A\nB", "C.", "A"]
    return docs, replies


def _chartqa() -> tuple[list[dict], list[str]]:
    rows = [("Yes", "human_test"), ("12%", "human_test"), ("40", "augmented_test"),
            ("40", "augmented_test"), ("1000", "human_test"), ("45%", "augmented_test"),
            ("0", "augmented_test"), ("Brazil", "human_test"), ("0.5", "human_test"),
            ("2019", "augmented_test")]
    docs = [{"type": t, "question": "?", "answer": a} for a, t in rows]
    replies = [" Yes", "12% ", "41.9", "42.1", "1,000", "0.45", "0.0", "brazil\n", "50%",
               "2019.0"]
    return docs, replies


def _docvqa() -> tuple[list[dict], list[str]]:
    answers = [["hello"], ["hello", "help me"], ["1/2/2019"], ["hello"], ["$12.50"],
               ["ACME Corp"], ["yes"], ["sample"]]
    docs = [{"questionId": str(49153 + i), "question": "?", "answers": a,
             "question_types": ["form"], "docId": 14465 + i, "data_split": "val"}
            for i, a in enumerate(answers)]
    replies = [" hallo ", "Help", "1/2/2019\n", "", "12.50", "acme  corp", "yes\nno",
               "sampel"]
    return docs, replies


def _mmbench() -> tuple[list[dict], list[str]]:
    questions = [(5, "What animal is shown?", ["cat", "dog", "horse", "cow"], "dog"),
                 (9, "Is the sky visible?", ["yes", "no"], "yes"),
                 (12, "Which fruit?", ["banana", "apple", "pear"], "apple"),
                 (20, "What colour?", ["red", "green", "blue", "white"], "red")]
    docs = []
    for index, question, options, right in questions:
        for k in range(len(options)):
            rotated = options[k:] + options[:k]
            letters = dict(zip("ABCD", rotated + [None] * (4 - len(rotated))))
            docs.append({"index": index + k * 1_000_000, "question": question, "hint": None,
                         **letters, "answer": "ABCD"[rotated.index(right)],
                         "category": "attribute" if index < 10 else "object",
                         "source": "fixture", "L2-category": "perception", "split": "dev"})
    # answers by row: 5: B A D C; 9: A B; 12: B A C; 20: A D C B
    replies = ["(B) dog", "A cat is on the mat", "The answer is D", "C",
               " A ", "B\nno",
               "B or C", "apple", "Option C.",
               "A", "", "I think it is C", "b"]
    return docs, replies


CASES = {"mme": _mme(), "pope": _pope(), "textvqa_val": _textvqa(), "vqav2_val": _vqav2(),
         "gqa": _gqa(), "scienceqa_img": _scienceqa(), "chartqa": _chartqa(),
         "docvqa_val": _docvqa(), "mmbench_en_dev": _mmbench()}

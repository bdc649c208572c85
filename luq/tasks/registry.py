"""The benchmark tasks by name: prompts (lmms-eval's default ones) and scoring.

Decoding budgets are lmms-eval's (16 new tokens; DocVQA 32) except where lmms-eval allows
long replies its rules never need: POPE (128 there) takes 16, since only a bare "yes"/"no"
scores; MMBench (1024 there) takes 32, since the reply is asked to be one letter.
"""

from __future__ import annotations

import math

from luq.evaluation.answer import normalize_answer
from luq.evaluation.vqa import normalize_textvqa_answer, vqa_accuracy
from luq.tasks.metrics import (
    CIRCULAR_STRIDE,
    COGNITION,
    PERCEPTION,
    anls,
    circular_accuracy,
    gqa_match,
    lmms_eval,
    mmbench_extract,
    mme_category_scores,
    mme_parse,
    pope_metrics,
    relaxed_correct,
    scienceqa_correct,
)
from luq.tasks.task import ImageJoin, Record, Rules, Task, mean, mean_by

SHORT_ANSWER = "\nAnswer the question using a single word or phrase."
ONE_WORD = "\nAnswer the question with a single word."
LETTER = "\nAnswer with the option's letter from the given choices directly."
MME_ASK = " Please answer yes or no."
MMBENCH_OPTIONS = "There are several options:"


def _hub(name: str) -> tuple[str, ...]:
    return (f"lmms-lab-encoder/{name}", f"lmms-lab/{name}")


def _null(value) -> bool:
    """None, NaN or the text "nan" (how pandas-made MMBench files mark a missing cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == "nan"


# -- prompts ---------------------------------------------------------------------------------

def _short_prompt(doc: dict) -> str:
    return f"{doc['question']}{SHORT_ANSWER}"


def _mme_prompt(doc: dict) -> str:
    return doc["question"].strip().replace(MME_ASK, "") + SHORT_ANSWER


def _scienceqa_prompt(doc: dict) -> str:
    choices = "\n".join(f"{chr(ord('A') + i)}. {c}" for i, c in enumerate(doc["choices"]))
    context = f"Context: {doc['hint']}\n" if doc.get("hint") else ""
    return f"{context}{doc['question']}\n{choices}{LETTER}"


def mmbench_options(doc: dict) -> dict[str, str]:
    """The options a MMBench row has, letter -> text (empty and null ones left out)."""
    return {k: doc[k] for k in "ABCDE" if k in doc and doc[k] and not _null(doc[k])}


def _mmbench_prompt(doc: dict) -> str:
    lines = "\n".join(f"{k}. {v}" for k, v in mmbench_options(doc).items())
    body = f"{doc['question']} {MMBENCH_OPTIONS}\n{lines}"
    if not _null(doc.get("hint")):  # lmms-eval keeps an empty hint (a leading space)
        body = f"{doc['hint']} {body}"
    # lmms-eval joins the body and a suffix that starts with a newline by another newline.
    return f"{body}\n{LETTER}"


# -- scoring ---------------------------------------------------------------------------------

def _accuracy(records: list[Record]) -> dict:
    return {"accuracy": mean(records)}


def _shapes_aggregate(records: list[Record]) -> dict:
    return {"accuracy": mean(records), "per_type": mean_by(records, "type")}


def _mme_aggregate(records: list[Record]) -> dict:
    # Sums over the categories present: all 10 + 4 on the full split, fewer in a sample.
    scores = mme_category_scores((r["category"], r["image"], r["score"]) for r in records)
    return {"perception": sum(v for k, v in scores.items() if k in PERCEPTION),
            "cognition": sum(v for k, v in scores.items() if k in COGNITION),
            "categories": dict(sorted(scores.items()))}


def _pope_aggregate(records: list[Record], yes_ratio_of_answers: bool = False) -> dict:
    def metrics(rs: list[Record]) -> dict:
        out = pope_metrics([r["reply"] for r in rs], [r["answer"] for r in rs])
        if yes_ratio_of_answers:  # lmms-eval's pope_yes_ratio
            out["yes_ratio"] = lmms_eval.pope_yes_ratio([r["answer"] for r in rs])
        return out

    categories = sorted({r["category"] for r in records})
    per = {c: metrics([r for r in records if r["category"] == c]) for c in categories}
    return {**metrics(records), "categories": per}


def _pope_score(doc: dict, reply: str) -> Record:
    return {"score": reply.lower() == doc["answer"].lower().strip(), "reply": reply,
            "answer": doc["answer"], "category": doc.get("category") or "all"}


def _vqav2_aggregate(records: list[Record]) -> dict:
    return {"accuracy": mean(records), "per_answer_type": mean_by(records, "type")}


def _chartqa_aggregate(records: list[Record]) -> dict:
    return {"relaxed_accuracy": mean(records), "per_type": mean_by(records, "type")}


def _mmbench_aggregate(records: list[Record]) -> dict:
    overall, passed = circular_accuracy((r["index"], r["score"]) for r in records)
    category = {int(r["index"]) % CIRCULAR_STRIDE: r["category"] for r in records}
    per = mean_by([{"category": category[k], "score": v} for k, v in passed.items()],
                  "category")
    return {"accuracy": overall, "questions": len(passed), "categories": per}


def _mmbench_static_aggregate(records: list[Record]) -> dict:
    """lmms-eval's ``eval_result(..., "static")``: only questions whose original row (index
    < 1e6) was answered count, each by its original's category."""
    originals = {r["index"]: r["category"] for r in records if r["index"] < CIRCULAR_STRIDE}
    if not originals:
        raise ValueError("nothing to aggregate: no original MMBench question (index < 1e6)")
    _, passed = circular_accuracy((r["index"], r["score"]) for r in records
                                  if r["index"] % CIRCULAR_STRIDE in originals)
    per = mean_by([{"category": originals[k], "score": v} for k, v in passed.items()],
                  "category")
    return {"accuracy": mean([{"score": v} for v in passed.values()]),
            "questions": len(passed), "categories": per}


def _vqav2_score(doc: dict, reply: str) -> Record:
    answers = [a["answer"] for a in doc["answers"]]
    return {"score": vqa_accuracy(reply, answers), "type": doc.get("answer_type") or "all"}


def _mmbench_score(doc: dict, reply: str) -> Record:
    picked = mmbench_extract(reply, mmbench_options(doc))
    return {"score": picked == doc["answer"], "index": int(doc["index"]),
            "category": doc.get("category") or "all"}


def _mmbench_static_score(doc: dict, reply: str) -> Record:
    return {"score": lmms_eval.mmbench_pick(reply, doc) == doc["answer"],
            "index": int(doc["index"]), "category": doc.get("category") or "all"}


def _vqav2_lmms_score(doc: dict, reply: str) -> Record:
    return {"score": lmms_eval.vqav2_accuracy(reply, doc["answers"]),
            "type": doc.get("answer_type") or "all"}


def _score_only(match) -> Rules:
    """Rules that score each document by ``match(doc, reply)`` and report the mean."""
    return Rules(lambda d, r: {"score": match(d, r)}, _accuracy)


def _vqa_task(name: str, hub: tuple[str, ...], config: str | None, split: str,
              description: str) -> Task:
    return Task(name, description, hub, config, split, ("question", "answers"), _short_prompt,
                _vqav2_score, _vqav2_aggregate, "accuracy",
                lmms_eval=Rules(_vqav2_lmms_score, _vqav2_aggregate))


def _shapes_docs(split: str):
    from luq.embedded import load_split

    return load_split(split)


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("shapes", "The embedded model's coloured-shapes test split (1,000 one-word answers).",
         (), None, "test", ("question", "answer"), lambda d: d["question"],
         lambda d, r: {"score": normalize_answer(r) == normalize_answer(d["answer"]),
                       "type": d.get("question_type") or "all"},
         _shapes_aggregate, "accuracy", max_new_tokens=3, builtin=_shapes_docs),
    Task("mme", "MME yes/no perception and cognition, 14 categories (score out of 2800).",
         _hub("MME"), None, "test", ("question_id", "question", "answer", "category"),
         _mme_prompt,
         lambda d, r: {"score": mme_parse(r) == d["answer"].lower().strip().replace(".", ""),
                       "category": d["category"], "image": d["question_id"]},
         _mme_aggregate, "perception", group_column="question_id"),
    Task("pope", "POPE object hallucination, yes/no (adversarial, popular, random).",
         _hub("POPE"), None, "test", ("question", "answer"),
         lambda d: d["question"].strip() + SHORT_ANSWER,
         _pope_score, _pope_aggregate, "f1",
         lmms_eval=Rules(_pope_score, lambda rs: _pope_aggregate(rs, yes_ratio_of_answers=True))),
    Task("textvqa_val", "TextVQA validation: reading text in images, VQA accuracy.",
         _hub("textvqa"), None, "validation", ("question", "answers"),
         lambda d: d["question"].capitalize() + SHORT_ANSWER,
         lambda d, r: {"score": vqa_accuracy(r, d["answers"], normalize_textvqa_answer)},
         _accuracy, "accuracy",
         lmms_eval=_score_only(lambda d, r: lmms_eval.textvqa_accuracy(r, d["answers"]))),
    _vqa_task("vqav2_val", _hub("VQAv2"), None, "validation",
              "VQAv2 validation (214k questions), VQA accuracy."),
    _vqa_task("vqav2_val_lite", _hub("LMMs-Eval-Lite"), "vqav2_val", "lite",
              "VQAv2 validation, lmms-eval's 500-question lite subset, VQA accuracy."),
    Task("gqa", "GQA test-dev balanced: compositional questions, exact match.",
         _hub("GQA"), "testdev_balanced_instructions", "testdev",
         ("question", "answer", "imageId"), _short_prompt,
         lambda d, r: {"score": gqa_match(r, d["answer"])}, _accuracy, "accuracy",
         images=ImageJoin("testdev_balanced_images", "testdev", "imageId"),
         lmms_eval=_score_only(lambda d, r: lmms_eval.gqa_match(r, d["answer"]))),
    Task("scienceqa_img", "ScienceQA test questions with an image, option letter.",
         _hub("ScienceQA"), "ScienceQA-IMG", "test", ("question", "choices", "answer"),
         _scienceqa_prompt,
         lambda d, r: {"score": scienceqa_correct(r, int(d["answer"]), len(d["choices"]))},
         _accuracy, "accuracy"),
    Task("chartqa", "ChartQA test: questions on charts, relaxed accuracy (5 %).",
         _hub("ChartQA"), None, "test", ("question", "answer"),
         lambda d: f"{d['question']}{ONE_WORD}",
         lambda d, r: {"score": relaxed_correct(r, d["answer"]), "type": d.get("type") or "all"},
         _chartqa_aggregate, "relaxed_accuracy"),
    Task("docvqa_val", "DocVQA validation: questions on document scans, ANLS.",
         _hub("DocVQA"), "DocVQA", "validation", ("question", "answers"), _short_prompt,
         lambda d, r: {"score": anls(r, d["answers"])}, lambda rs: {"anls": mean(rs)}, "anls",
         max_new_tokens=32),
    Task("mmbench_en_dev", "MMBench English dev, multiple choice with CircularEval.",
         _hub("MMBench"), "en", "dev", ("index", "question", "answer", "A", "B"),
         _mmbench_prompt, _mmbench_score, _mmbench_aggregate, "accuracy", max_new_tokens=32,
         group_column="index", group_key=lambda value: int(value) % CIRCULAR_STRIDE,
         lmms_eval=Rules(_mmbench_static_score, _mmbench_static_aggregate)),
)}


def task_names() -> list[str]:
    """The registered task names, in registry order."""
    return list(TASKS)


def get_task(name: str | Task) -> Task:
    """The task called ``name`` (a :class:`Task` is returned as is).

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None

"""The registry and each task's prompt, as lmms-eval builds it."""

import pytest

from luq.tasks import get_task, task_names
from luq.tasks.registry import LETTER, SHORT_ANSWER
from tests.tasks import fixtures

SHORT = "\nAnswer the question using a single word or phrase."
LETTERS = "\nAnswer with the option's letter from the given choices directly."


def test_names_and_unknown_name():
    assert task_names() == ["shapes", "mme", "pope", "textvqa_val", "vqav2_val",
                            "vqav2_val_lite", "gqa", "scienceqa_img", "chartqa", "docvqa_val",
                            "mmbench_en_dev"]
    with pytest.raises(ValueError, match="unknown task 'mmmu'; known: shapes, mme"):
        get_task("mmmu")
    assert get_task(get_task("mme")) is get_task("mme")
    assert SHORT_ANSWER == SHORT and LETTER == LETTERS


@pytest.mark.parametrize("name, hub, config, split, headline", [
    ("mme", "MME", None, "test", "perception"),
    ("pope", "POPE", None, "test", "f1"),
    ("textvqa_val", "textvqa", None, "validation", "accuracy"),
    ("vqav2_val", "VQAv2", None, "validation", "accuracy"),
    ("vqav2_val_lite", "LMMs-Eval-Lite", "vqav2_val", "lite", "accuracy"),
    ("gqa", "GQA", "testdev_balanced_instructions", "testdev", "accuracy"),
    ("scienceqa_img", "ScienceQA", "ScienceQA-IMG", "test", "accuracy"),
    ("chartqa", "ChartQA", None, "test", "relaxed_accuracy"),
    ("docvqa_val", "DocVQA", "DocVQA", "validation", "anls"),
    ("mmbench_en_dev", "MMBench", "en", "dev", "accuracy"),
])
def test_where_each_task_lives(name, hub, config, split, headline):
    task = get_task(name)
    assert set(task.hub_ids) == {f"lmms-lab/{hub}", f"lmms-lab-encoder/{hub}"}
    assert (task.config, task.split, task.headline) == (config, split, headline)
    assert task.description and task.max_new_tokens >= 16


def test_short_answer_prompts():
    q = {"question": "what is written on the sign?"}
    for name in ("vqav2_val", "vqav2_val_lite", "gqa", "docvqa_val"):
        assert get_task(name).prompt(q) == "what is written on the sign?" + SHORT
    assert get_task("textvqa_val").prompt(q) == "What is written on the sign?" + SHORT
    assert get_task("pope").prompt({"question": " Is there a cat? "}) == "Is there a cat?" + SHORT
    assert get_task("chartqa").prompt(q) == ("what is written on the sign?"
                                             "\nAnswer the question with a single word.")
    assert get_task("shapes").prompt({"question": "what color is the circle ?"}) == \
        "what color is the circle ?"


def test_mme_prompt_drops_its_own_instruction():
    doc = {"question": "Is there a dog in this image? Please answer yes or no."}
    assert get_task("mme").prompt(doc) == "Is there a dog in this image?" + SHORT


def test_scienceqa_prompt():
    task = get_task("scienceqa_img")
    doc = {"question": "Which is the main persuasive appeal?", "hint": "An ad.",
           "choices": ["ethos", "pathos", "logos"]}
    assert task.prompt(doc) == ("Context: An ad.\nWhich is the main persuasive appeal?\n"
                                "A. ethos\nB. pathos\nC. logos" + LETTERS)
    assert task.prompt({**doc, "hint": ""}).startswith("Which is")


def test_mmbench_prompt():
    first, *_, last = fixtures.mmbench_rows()
    task = get_task("mmbench_en_dev")
    assert task.prompt(first) == ("A photo. What animal is shown? There are several options:\n"
                                  "A. cat\nB. dog\nC. horse\nD. cow\n" + LETTERS)
    assert task.prompt(last) == ("Is the sky visible? There are several options:\n"
                                 "A. no\nB. yes\n" + LETTERS)

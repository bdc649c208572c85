"""Calibration samples from tasks and data sources, fed to calibration_batches."""

import json

from luq.calibration import CalibrationConfig, calibration_batches
from luq.embedded import load_split, text_prompts
from luq.tasks import calibration_source, get_task
from tests.tasks import fixtures


def test_default_is_the_embedded_calibration_split():
    source = calibration_source()
    assert source.rows["question"] == load_split("calibration")["question"]
    assert source.text_prompts == text_prompts()
    assert source.key == "shapes:luq:calibration:all:seed0"
    assert calibration_source("shapes").key == source.key
    assert len(calibration_source(limit=16).rows) == 16


def test_task_source_uses_the_task_prompts(data, tiny_llava):
    source = calibration_source("textvqa_val", limit=2, data=str(data["textvqa_val"]))
    prompt = get_task("textvqa_val").prompt
    assert len(source.rows) == 2 and set(source.rows.column_names) == {"image", "question"}
    assert all(q.endswith("single word or phrase.") for q in source.rows["question"])
    assert source.text_prompts == source.rows["question"]
    assert prompt({"question": fixtures.TEXTVQA_ROWS[0][0]}) in \
        calibration_source("textvqa_val", data=str(data["textvqa_val"])).text_prompts
    assert source.key.startswith("textvqa_val:") and ":validation:2:seed0" in source.key
    assert str(data["textvqa_val"]) in source.key
    batches = calibration_batches(tiny_llava.processor, source.rows, source.text_prompts,
                                  CalibrationConfig(samples=4, alpha=0.5))
    assert len(batches) == 4 and "pixel_values" in batches[0] and "pixel_values" not in batches[3]


def test_gqa_rows_carry_their_joined_images(data):
    source = calibration_source("gqa", limit=2, data=str(data["gqa"]))
    assert source.rows[0]["image"].size == (32, 32)


def test_any_image_question_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    with open(folder / "metadata.jsonl", "w") as meta:
        for i in range(3):
            fixtures.image(i).save(folder / f"{i}.png")
            meta.write(json.dumps({"file_name": f"{i}.png", "question": f"what is {i} ?"}) + "\n")
    source = calibration_source(str(folder))
    assert source.rows["question"] == ["what is 0 ?", "what is 1 ?", "what is 2 ?"]
    assert source.key.startswith("custom:") and ":train:all:" in source.key

"""`python -m luq score` and `eval --task` on fixtures built in each benchmark's hub schema.

Expected numbers are worked by hand from the official rules (not from our own output):
MME acc + acc+ per category, VQA's leave-one-annotator-out accuracy, POPE's confusion
counts, GQA's punctuation-free exact match, ScienceQA's option letter, ChartQA's 5 %
relaxed match and MMBench's circular evaluation.
"""

import json
import subprocess
import sys

import pytest

from luq.cli import main
from tests.tasks import fixtures

CASES = {
    # MME: existence 3 of 4 right, 1 of 2 images both right -> 75 + 50; OCR 200;
    # code_reasoning 1 of 2 right, no image both right -> 50 + 0.
    "mme": (fixtures.build_mme_fixture,
            ["Yes", "No", "yes", "yes", "Yes.", "no", "No", "No"],
            {"perception": 325.0, "cognition": 50.0}),
    # VQAv2: "yes" 10/10 -> 1; "two" -> "2", 3 annotators say 2 -> (3 * 2/3 + 7 * 1) / 10 =
    # 0.9; "Red", 1 annotator -> 9 * (1/3) / 10 = 0.3; mean 2.2 / 3.
    "vqav2_val": (fixtures.build_vqav2_fixture, ["yes", "two", "Red"],
                  {"accuracy": 2.2 / 3}),
    # TextVQA: "Coke" 7 of 10 -> 1; "Nokia." -> 1; "2" vs two x2 (-> "2") and 3 x8 ->
    # (2 * 1/3 + 8 * 2/3) / 10 = 0.6; mean 2.6 / 3.
    "textvqa_val": (fixtures.build_textvqa_fixture, ["Coke", "Nokia.", "2"],
                    {"accuracy": 2.6 / 3}),
    # POPE: truth yes yes yes no no no, replies yes no yes yes no no: TP 2, FN 1, FP 1, TN 2.
    "pope": (fixtures.build_pope_fixture, ["yes", "no", "yes", "yes", "no", "no"],
             {"accuracy": 4 / 6, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3,
              "yes_ratio": 0.5}),
    # GQA: yes / left / t-shirt / left vs "Yes", "left.", "T-Shirt", "right" -> 3 of 4.
    "gqa": (fixtures.build_gqa_fixture, ["Yes", "left.", "T-Shirt", "right"],
            {"accuracy": 0.75}),
    # ScienceQA: answers B A A A vs "B", "a", "C. Ogden", "B" -> 2 of 4.
    "scienceqa_img": (fixtures.build_scienceqa_fixture, ["B", "a", "C. Ogden", "B"],
                      {"accuracy": 0.5}),
    # ChartQA: 41 vs 40 (2.5 % off) right; 0.45 vs 45 % right; yes vs Yes right; 0 vs 0
    # right; 43 vs 40 (7.5 % off) wrong -> 4 of 5.
    "chartqa": (fixtures.build_chartqa_fixture, ["41", "0.45", "yes", "0", "43"],
                {"relaxed_accuracy": 0.8}),
    # MMBench: "dog" right in all 4 rotations (B, A, D, C); "yes" wrong in its second
    # rotation (B expected) -> 1 of 2 questions.
    "mmbench_en_dev": (fixtures.build_mmbench_fixture, ["B", "A", "D", "C", "A", "A"],
                       {"accuracy": 0.5}),
}


def _predictions(path, replies):
    path.write_text("".join(json.dumps({"doc_id": i, "prediction": r}) + "\n"
                            for i, r in enumerate(replies)))
    return path


@pytest.mark.parametrize("task", sorted(CASES))
def test_score_reproduces_the_official_rules(task, tmp_path, capsys):
    build, replies, expected = CASES[task]
    data = build(tmp_path / "data")
    predictions = _predictions(tmp_path / "predictions.jsonl", replies)
    assert main(["score", "--task", task, "--data", str(data), "--predictions",
                 str(predictions)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == len(replies)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-4), key


def test_mme_reports_every_category(tmp_path, capsys):
    build, replies, _ = CASES["mme"]
    data = build(tmp_path / "data")
    main(["score", "--task", "mme", "--data", str(data), "--predictions",
          str(_predictions(tmp_path / "p.jsonl", replies))])
    categories = json.loads(capsys.readouterr().out)["categories"]
    assert categories["existence"] == pytest.approx(125.0)
    assert categories["OCR"] == pytest.approx(200.0)
    assert categories["code_reasoning"] == pytest.approx(50.0)


def test_a_missing_prediction_is_a_clear_error(tmp_path, capsys):
    data = fixtures.build_pope_fixture(tmp_path / "data")
    predictions = _predictions(tmp_path / "p.jsonl", ["yes", "no"])
    assert main(["score", "--task", "pope", "--data", str(data), "--predictions",
                 str(predictions)]) == 2
    assert "no prediction for 4 of 6 documents" in capsys.readouterr().err


def test_a_missing_dataset_offline_is_one_line_exit_2_and_nothing_written(tmp_path):
    out = tmp_path / "predictions.jsonl"
    r = subprocess.run([sys.executable, "-m", "luq", "eval", "--model", "tiny-random-llava",
                        "--task", "pope", "--n", "4", "--predictions-out", str(out)],
                       capture_output=True, text=True, timeout=300,
                       env={**_offline_env(), "HF_DATASETS_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1
    assert "hf download --repo-type dataset" in r.stderr and "--data" in r.stderr
    assert not out.exists()


def _offline_env():
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def test_eval_on_a_textvqa_fixture_writes_predictions_score_reads(tmp_path, capsys):
    data = fixtures.build_textvqa_fixture(tmp_path / "data")
    predictions = tmp_path / "p.jsonl"
    assert main(["eval", "--model", "tiny-random-llava", "--task", "textvqa_val", "--data",
                 str(data), "--predictions-out", str(predictions)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["n"] == 3 and 0.0 <= evaluated["accuracy"] <= 1.0
    assert main(["score", "--task", "textvqa_val", "--data", str(data), "--predictions",
                 str(predictions)]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == evaluated["accuracy"]


def test_eval_runs_the_embedded_model_on_a_folder_of_rows(tmp_path, capsys):
    from luq.embedded import load_split

    rows = load_split("test", 12)
    folder = tmp_path / "pictures"
    folder.mkdir()
    lines = []
    for i, row in enumerate(rows):
        row["image"].save(folder / f"{i}.png")
        lines.append(json.dumps({"file_name": f"{i}.png", "question": row["question"],
                                 "answer": row["answer"]}))
    (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["eval", "--model", "embedded", "--task", "shapes", "--data", str(folder),
                 "--n", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 12 and out["accuracy"] >= 11 / 12


def test_profile_plan_sweep_on_a_tiny_model_with_real_schema_data(tmp_path, capsys):
    mme = fixtures.build_mme_fixture(tmp_path / "mme")
    textvqa = fixtures.build_textvqa_fixture(tmp_path / "textvqa")
    profile, plan, curve = (tmp_path / n for n in ("profile.json", "plan.json", "curve.json"))
    common = ["--model", "tiny-random-llava", "--calibration", str(mme)]
    assert main(["profile", *common, "--samples", "8", "--out", str(profile)]) == 0
    assert json.loads(profile.read_text())["layers"]
    assert main(["plan", "--profile", str(profile), *common, "--min-accuracy", "0.0",
                 "--task", "textvqa_val", "--data", str(textvqa), "--out", str(plan)]) == 0
    assert json.loads(plan.read_text())["trace"][0]["accuracy"] is not None
    assert main(["sweep", *common, "--samples", "8", "--task", "mme", "--data", str(mme),
                 "--orders", "entropy", "depth", "--out", str(curve)]) == 0
    result = json.loads(curve.read_text())
    assert result["metric"] == "perception" and result["evaluation"].startswith("mme/")
    assert {p["n_low"] for p in result["curves"]["depth"]} >= {0, 1}
    capsys.readouterr()

"""The CLI's model-running commands on the shipped embedded model, as a user types them."""

import json
import os
import random
import subprocess
import sys

import pytest

from luq.defaults import LOW


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("luq-cache")
    return {**os.environ, "LUQ_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}


def _run(env, *args):
    r = subprocess.run([sys.executable, "-m", "luq", *args], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def profile(env, tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "profile.json"
    _run(env, "profile", "--model", "embedded", "--samples", "16", "--sensitivity",
         "--labelled", "40", "--out", str(path))
    return path


def test_eval_prints_accuracy_per_type_and_time(env):
    out = _run(env, "eval", "--model", "embedded", "--n", "50")
    assert out["n"] == 50 and 0.0 <= out["accuracy"] <= 1.0
    assert set(out["per_type"]) == {"color", "shape", "count", "position", "size"}
    assert out["seconds"] > 0


def test_profile_with_sensitivity_writes_every_key(profile):
    data = json.loads(profile.read_text())
    layers = data["layers"]
    assert len(layers) == 12
    for layer in layers:
        assert layer["n_image"] > 0 and layer["n_text"] > 0
        assert layer["sensitivity_kl"] >= 0.0 and "sensitivity_acc" in layer
    assert {"kmeans/image", "kmeans/text", "kmeans/all", "hist/all",
            "hist-clip/all"} <= set(data["spearman"])
    for value in data["spearman"].values():
        lo, hi = value["ci90"]
        assert -1.0 <= lo <= hi <= 1.0


@pytest.mark.parametrize("order", ["entropy", "sensitivity"])
def test_plan_from_the_profile_meets_the_budget(env, profile, tmp_path, order):
    data = json.loads(profile.read_text())
    out_path = tmp_path / "plan.json"
    memory = _run(env, "memory", "--model", "embedded")  # uniform 4-bit by default
    budget_mb = memory["total_bytes"] * 0.85 / 1e6  # so some blocks must go ultra-low
    out = _run(env, "plan", "--profile", str(profile), "--budget-mb", f"{budget_mb:.3f}",
               "--order", order, "--out", str(out_path))
    plan = json.loads(out_path.read_text())
    assert out["memory_bytes"] <= budget_mb * 1e6 and out["n_low"] >= 1
    assert 0.3 < out["predicted_speed"] < 3  # over uniform Q4_K_M, from the shipped table
    if order == "sensitivity":
        kl = [layer["sensitivity_kl"] for layer in data["layers"]]
        first = min(range(len(kl)), key=kl.__getitem__)
        assert (plan["layers"][first]["method"], plan["layers"][first].get("type")) == (
            LOW.method, LOW.type)  # the default ultra-low setting


def test_sensitivity_order_without_a_probe_is_a_clear_error(env, tmp_path):
    path = tmp_path / "plain.json"
    _run(env, "profile", "--model", "embedded", "--samples", "8", "--out", str(path))
    r = subprocess.run([sys.executable, "-m", "luq", "plan", "--profile", str(path),
                        "--budget-mb", "3", "--order", "sensitivity", "--out",
                        str(tmp_path / "p.json")], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode != 0 and "--sensitivity" in r.stderr


def test_a_minimum_speed_without_the_allocator_is_a_clear_error(env, profile, tmp_path):
    r = subprocess.run([sys.executable, "-m", "luq", "plan", "--profile", str(profile),
                        "--budget-mb", "8", "--min-speed", "1", "--out",
                        str(tmp_path / "p.json")], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode != 0 and "--order allocate" in r.stderr


def test_min_accuracy_plan_stops_at_the_floor(env, profile, tmp_path):
    out_path = tmp_path / "plan.json"
    out = _run(env, "plan", "--profile", str(profile), "--min-accuracy", "0.9", "--n", "40",
               "--order", "entropy-desc", "--out", str(out_path))
    plan = json.loads(out_path.read_text())
    assert out["accuracy"] >= 0.9 and out["n_low"] == plan["n_low"]
    assert all(step["accuracy"] >= 0.9 for step in plan["trace"])


def test_export_writes_every_format(env, profile, tmp_path):
    plan_path = tmp_path / "plan.json"
    _run(env, "plan", "--profile", str(profile), "--budget-mb", "8.0", "--out", str(plan_path))
    for fmt in ("json", "gptqmodel", "llamacpp"):
        out = _run(env, "export", "--plan", str(plan_path), "--format", fmt, "--out",
                   str(tmp_path / f"{fmt}.json"))
        assert out["bytes"] > 0 and json.loads((tmp_path / f"{fmt}.json").read_text())
    folder = _run(env, "export", "--plan", str(plan_path), "--format", "folder", "--out",
                  str(tmp_path / "folder"))
    from luq.export import load_quantized

    _, reloaded = load_quantized(tmp_path / "folder")
    assert reloaded.to_dict()["layers"] == json.loads(plan_path.read_text())["layers"]
    assert folder["bytes"] > 0


def test_gguf_export_of_the_embedded_model_runs_with_its_readme_files(env, profile, tmp_path):
    """``export --format gguf``: the text model at the plan's types, the vision tower as
    an mmproj, a README naming both; the files load and answer in llama.cpp."""
    from luq.embedded import load_split
    from luq.embedded.model import IMAGE_TOKENS
    from luq.engines.llamacpp import LlamaCppModel

    plan_path = tmp_path / "plan.json"
    _run(env, "plan", "--profile", str(profile), "--budget-mb", "8.0", "--out", str(plan_path))
    out = _run(env, "export", "--plan", str(plan_path), "--format", "gguf", "--samples", "8",
               "--out", str(tmp_path / "gguf"))
    n_low = json.loads(plan_path.read_text())["layers"]
    low_blocks = {str(i) for i, a in enumerate(n_low) if a.get("type") == LOW.type}
    assert low_blocks and {k for k, t in out["block_types"].items() if t == LOW.type} == low_blocks
    readme = (tmp_path / "gguf" / "README.md").read_text()
    model, mmproj = out["model"], out["mmproj"]
    assert f"-m {os.path.basename(model)} --mmproj {os.path.basename(mmproj)}" in readme
    row = load_split("test", 1)[0]
    with LlamaCppModel(model, mmproj) as engine:
        reply = engine.answer(row["question"], row["image"], max_tokens=3)
    assert reply.text.strip() and reply.prompt_tokens > IMAGE_TOKENS  # image tokens + question
    # the README's own Python lines, run as a user would, in the folder with a picture
    snippet = readme.split("```python\n")[1].split("```")[0]
    assert "what color is the circle ?" in snippet
    # a picture the snippet's question is about (the test split's first has no circle)
    from luq.embedded.render import Obj, render

    scene = (Obj("red", "circle", "large", "left"), Obj("blue", "cross", "small", "right"))
    render(scene, random.Random(0)).save(tmp_path / "gguf" / "picture.png")
    r = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path / "gguf",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from luq.embedded import COLORS
    assert r.stdout.strip().split()[-1] in COLORS  # a colour for a colour question


def test_eval_in_llamacpp_reports_accuracy_size_memory_and_speed(env, profile, tmp_path):
    plan_path = tmp_path / "plan.json"
    _run(env, "plan", "--profile", str(profile), "--budget-mb", "8.0", "--out", str(plan_path))
    torch_run = _run(env, "eval", "--plan", str(plan_path), "--n", "60")
    engine_run = _run(env, "eval", "--engine", "llamacpp", "--plan", str(plan_path), "--n", "60",
                      "--gguf-dir", str(tmp_path / "gguf"))
    assert engine_run["engine"] == "llama.cpp" and engine_run["n"] == 60
    assert engine_run["file_bytes"] == sum(
        os.path.getsize(engine_run[k]) for k in ("gguf", "mmproj"))
    assert engine_run["rss_after_load_bytes"] > 0 and engine_run["decode_tok_s"] > 0
    assert engine_run["prompt_tok_s"] > 0
    assert abs(engine_run["accuracy"] - torch_run["accuracy"]) <= 0.1, (engine_run, torch_run)

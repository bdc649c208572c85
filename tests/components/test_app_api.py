"""The app's named endpoints through gradio_client, bad inputs included."""

import json
import re
from pathlib import Path

import pytest
from gradio_client import handle_file
from PIL import Image

from luq.models.registry import ASSETS

EXAMPLE = str(sorted((ASSETS / "examples").glob("*.png"))[0])
SETTINGS = ("billm", "rtn4", "entropy")


def _range_mb():
    """(all ultra-low, all high) MB of the embedded model under SETTINGS."""
    from components.settings import parse_spec
    from luq.memory import model_layout
    from luq.models.loading import build_meta_model
    from luq.select import budget_range

    layout = model_layout(build_meta_model("embedded"))
    lo, hi = budget_range(layout, parse_spec(SETTINGS[1]), parse_spec(SETTINGS[0]))
    return lo / 1e6, hi / 1e6


LO, HI = _range_mb()
MID = round((LO + HI) / 2, 4)


def _plan(client, budget_mb, compare=False, order=SETTINGS[2], rule="budget",
          min_accuracy=0.9, task="shapes", data="", limit=100):
    return client.predict(budget_mb, *SETTINGS[:2], order, compare, rule, min_accuracy, task,
                          data, limit, api_name="/plan")


def _answer(client, image, question, budget_mb=MID, order=SETTINGS[2], engine=False):
    """The PyTorch answer cards (the word notice comes first and is dropped here; the
    llama.cpp card last, dropped unless ``engine``)."""
    cards = _ask(client, image, question, budget_mb, order, engine)[1:]
    return cards if engine else cards[:3]


def _ask(client, image, question, budget_mb=MID, order=SETTINGS[2], engine=False):
    return client.predict(handle_file(image), question, budget_mb, *SETTINGS[:2], order,
                          engine, api_name="/answer")


def test_profile_endpoint(client):
    heat, lines, summary, _detail, profile = client.predict(0.5, 32, "kmeans", 100, 256, False,
                                                            api_name="/profile")
    assert heat is not None and lines is not None
    assert "LUQ order" in summary
    assert len(profile["layers"]) >= 12
    assert all(x["n_image"] > 0 and x["n_text"] > 0 for x in profile["layers"])


def test_plan_endpoint_respects_the_budget(client):
    *_, summary, _curve, paths, plan = _plan(client, MID)
    assert plan["memory_bytes"] <= MID * 1e6
    assert 0.0 <= plan["accuracy"] <= 1.0
    assert "Accuracy" in summary and "100 fixed test questions" in summary
    assert re.search(r"holds \*\*[\d.]+ MB\*\* of weight tensors", summary)
    assert re.search(r"Process RSS \d+ MB", summary)
    files = {Path(p).name: Path(p) for p in paths}
    assert set(files) == {"plan.json", "gptqmodel-config.json", "llama-quantize.json"}
    assert files["plan.json"].read_text().count('"name"') == len(plan["layers"])
    assert "quantize_config" in json.loads(files["gptqmodel-config.json"].read_text())


def test_moving_the_slider_back_writes_no_new_files(client):
    from components.downloads import download_dir

    first = _plan(client, MID)[4]
    before = sorted(download_dir().rglob("*"))
    for _ in range(3):  # back and forth: two distinct plans, however many moves
        _plan(client, round(LO + 0.9 * (HI - LO), 4))
        again = _plan(client, MID)[4]
    assert [Path(p).name for p in again] == [Path(p).name for p in first]
    assert len(sorted(download_dir().rglob("*"))) <= len(before) + 4  # one folder, 3 files


def test_accuracy_floor_rule(client):
    *_, summary, _curve, _paths, plan = _plan(client, MID, rule="accuracy", min_accuracy=0.95)
    assert plan["accuracy"] >= 0.95 and "accuracy floor 95.0%" in summary


def test_only_documented_endpoints_are_public(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == {"/profile", "/sensitivity", "/plan", "/answer", "/load_model",
                     "/what_fits", "/gguf", "/answer_llamacpp", "/image_detail",
                     "/budget_range"}


def test_a_new_plan_is_shown_at_once_then_with_its_accuracy(client):
    job = client.submit(MID + 0.0123, *SETTINGS[:2], SETTINGS[2], False, "budget", 0.9,
                        "shapes", "", 100, api_name="/plan")
    final = job.result()
    replies = job.outputs()
    assert len(replies) == 2  # never measured before: the plan first, then its accuracy
    assert replies[0][-1]["accuracy"] is None and "being measured" in replies[0][2]
    assert replies[0][-1]["layers"] == final[-1]["layers"]
    assert 0.0 <= final[-1]["accuracy"] <= 1.0 and "being measured" not in final[2]
    again = client.submit(MID + 0.0123, *SETTINGS[:2], SETTINGS[2], False, "budget", 0.9,
                          "shapes", "", 100, api_name="/plan")
    again.result()
    assert len(again.outputs()) == 1  # measured: one reply


def test_budget_range_gives_the_models_default_budget_within_its_range(client):
    update = client.predict(*SETTINGS[:2], "F16", api_name="/budget_range")
    value = update["value"]
    assert update["minimum"] == pytest.approx(LO, abs=1e-3) and LO <= value <= HI
    assert update["maximum"] > HI  # up to full precision
    plan = _plan(client, value)[-1]  # the range it set is the one the server checks
    assert plan["memory_bytes"] <= value * 1e6


def test_unknown_words_are_flagged_before_the_answers(client):
    notice, *cards = _ask(client, EXAMPLE, "what colour is the circle ?")
    assert "does not know the word 'colour'" in notice and len(cards) == 4
    notice, *_ = _ask(client, EXAMPLE, "what color is the circle ?")
    assert "does not know" not in notice and "Process RSS" in notice


def test_more_budget_means_fewer_ultra_low_layers(client):
    small = _plan(client, round(LO + 0.1 * (HI - LO), 4))[-1]
    large = _plan(client, round(LO + 0.9 * (HI - LO), 4))[-1]
    assert small["n_low"] > large["n_low"]


@pytest.mark.parametrize("budget", [0.2, 0.01, "lots"])
def test_bad_budgets_are_clear_errors(client, budget):
    clear = "smallest possible plan|less than minimum|is not a valid value"
    with pytest.raises(Exception, match=clear):
        _plan(client, budget)
    assert _plan(client, MID)[-1]["memory_bytes"] <= MID * 1e6  # still serving


def test_answer_endpoint_gives_three_answers(client):
    cards = _answer(client, EXAMPLE, "how many objects are there ?")
    assert len(cards) == 3
    assert "Full precision" in cards[0] and "Uniform" in cards[1] and "LUQ" in cards[2]
    assert all("MB of weights" in c and "MB resident" in c for c in cards)
    accounted = [float(c.split(" MB of weights")[0].split("· ")[-1]) for c in cards]
    resident = [float(c.split(" MB resident")[0].split()[-1]) for c in cards]
    assert accounted[0] > accounted[1] > accounted[2]  # full > 4-bit > LUQ, as planned
    assert resident[0] > 0 and all(r > 0 for r in resident)


def test_llamacpp_column_answers_with_the_plans_gguf(client):
    """The fourth card: the LUQ plan exported as GGUF + mmproj, answering in llama.cpp. The
    export runs in its own queue (/answer_llamacpp); once it exists /answer answers too."""
    budget = round(LO + 0.37 * (HI - LO), 4)  # a plan no other test exports
    question = "how many objects are there ?"
    *_, waiting = _answer(client, EXAMPLE, question, budget, engine=True)
    assert "exporting this plan's GGUF in its own queue" in waiting, waiting
    filled = client.predict(handle_file(EXAMPLE), question, budget, *SETTINGS[:2], SETTINGS[2],
                            True, api_name="/answer_llamacpp")
    full, _four, luq, engine = _answer(client, EXAMPLE, question, budget, engine=True)
    assert filled.splitlines()[:2] == engine.splitlines()[:2]
    assert "LUQ in llama.cpp" in engine, engine
    answer = engine.splitlines()[1].removeprefix("## ")
    assert answer == full.splitlines()[1].removeprefix("## ")  # the example is easy
    files = float(re.search(r"([\d.]+) MB of GGUF files", engine).group(1))
    accounted = float(luq.split(" MB of weights")[0].split("· ")[-1])
    assert 0.5 * accounted < files < 3 * accounted  # + embeddings, head, mmproj (fp16)
    assert re.search(r"blocks .*(IQ1_M|Q1_0)", engine) and "MB RSS on load" in engine


def test_gguf_download_is_the_plan_with_its_mmproj_and_readme(client):
    import zipfile

    plan = _plan(client, MID)[-1]
    path = client.predict(plan, api_name="/gguf")
    names = set(zipfile.ZipFile(path).namelist())
    assert names == {"model-luq.gguf", "mmproj-model-f16.gguf", "README.md"}, names
    readme = zipfile.ZipFile(path).read("README.md").decode()
    assert "llama-mtmd-cli" in readme and "IQ1_M" in readme
    with pytest.raises(Exception, match="Choose a plan first"):
        client.predict({}, api_name="/gguf")


@pytest.mark.parametrize("mode", ["CMYK", "P", "RGBA", "L", "LA", "1"])
def test_other_image_modes_are_converted(client, tmp_path, mode):
    path = tmp_path / f"img.{'jpg' if mode == 'CMYK' else 'png'}"
    Image.open(EXAMPLE).convert(mode).save(path)
    assert len(_answer(client, str(path), "what color is the circle ?")) == 3


def _bad_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    full = tmp_path / "full.png"
    Image.open(EXAMPLE).resize((512, 512)).save(full)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    bomb = tmp_path / "bomb.png"
    Image.new("1", (8000, 8000)).save(bomb)
    return [(text, "not an image"), (truncated, "truncated"), (bomb, "too large|limit")]


def test_bad_images_are_clear_errors_and_the_app_keeps_serving(client, tmp_path):
    for path, message in _bad_files(tmp_path):
        with pytest.raises(Exception, match=message):
            _answer(client, str(path), "what color is the circle ?")
    assert len(_answer(client, EXAMPLE, "what color is the circle ?")) == 3


@pytest.mark.parametrize("question,message", [("", "Type a question"),
                                              ("   ", "Type a question"),
                                              ("why " * 100, "keep it under")])
def test_bad_questions(client, question, message):
    with pytest.raises(Exception, match=message):
        _answer(client, EXAMPLE, question)


def test_image_detail_says_what_a_picture_costs_and_plans_still_follow(client):
    info = client.predict("model", api_name="/image_detail")  # the model is session state
    assert "Image detail: model" in info and "costs 64 image tokens at one tile and 64" in info
    info = client.predict("one-tile", api_name="/image_detail")
    assert "Image detail: one-tile" in info
    assert _plan(client, MID)[-1]["memory_bytes"] <= MID * 1e6
    with pytest.raises(Exception, match="Image detail: .huge. is not a valid value"):
        client.predict("huge", api_name="/image_detail")


def test_unloadable_model_keeps_the_current_one(client):
    with pytest.raises(Exception, match="(?s)Could not load.*stays on embedded"):
        client.predict("no-such-org/no-such-model", api_name="/load_model")
    assert _plan(client, MID)[-1]["memory_bytes"] <= MID * 1e6


def test_llama_cpp_types_and_the_allocator_through_the_budget_tab(client):
    """A person picks IQ1_M / Q4_K, then the allocator, then a Q8_0 tower."""
    bits, _, summary, curve, _, plan = client.predict(
        8.0, "IQ1_M", "Q4_K", "entropy", False, "budget", 0.9, "shapes", "", 100, "official",
        "F16", api_name="/plan")
    assert "ultra-low (IQ1_M), the rest Q4_K" in summary
    assert "stored as" not in summary  # third edition: 256-wide rows hold IQ1_M itself
    assert {x["type"] for x in plan["layers"]} == {"IQ1_M", "Q4_K"}
    _, _, allocated, curve, _, plan = client.predict(
        8.0, "IQ1_M", "Q4_K", "allocate", False, "budget", 0.9, "shapes", "", 100, "official",
        "F16", api_name="/plan")
    assert "Allocated by measured damage" in allocated and plan["order"] == "allocate"
    assert plan["memory_bytes"] <= 8.0e6 and "allocate" in curve["plot"]
    speed = r"Predicted llama.cpp decode speed: (\d+\.\d\d)x uniform Q4_K_M"
    assert re.search(speed, summary) and re.search(speed, allocated)
    _, _, fast, curve, _, plan = client.predict(
        8.0, "IQ1_M", "Q4_K", "allocate-fast", False, "budget", 0.9, "shapes", "", 100,
        "official", "F16", api_name="/plan")
    assert float(re.search(speed, fast)[1]) >= 1.0 and plan["memory_bytes"] <= 8.0e6
    assert "at least as fast as Q4_K_M" in curve["plot"]
    _, _, typed, _, _, _ = client.predict(
        8.0, "IQ1_M", "Q4_K", "allocate", False, "budget", 0.9, "shapes", "", 100, "official",
        "Q8_0", api_name="/plan")
    assert "vision tower and projector ggml" not in typed
    assert re.search(r"Q8_0 \(2\.\d{3} MB\)", typed), typed

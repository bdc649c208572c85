"""The app's named endpoints through gradio_client, bad inputs included."""

import concurrent.futures as cf

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from luq.models.registry import ASSETS

EXAMPLE = str(sorted((ASSETS / "examples").glob("*.png"))[0])
SETTINGS = ("billm", "rtn4", "entropy")


def _range_mb():
    """(all ultra-low, all high) MB of the embedded model under SETTINGS."""
    from components.budget_panel import parse_spec
    from luq.memory import model_layout
    from luq.models.loading import build_meta_model
    from luq.select import budget_range

    layout = model_layout(build_meta_model("embedded"))
    lo, hi = budget_range(layout, parse_spec(SETTINGS[1]), parse_spec(SETTINGS[0]))
    return lo / 1e6, hi / 1e6


LO, HI = _range_mb()
MID = round((LO + HI) / 2, 4)


def _plan(client, budget_mb, compare=False):
    return client.predict(budget_mb, *SETTINGS, compare, api_name="/plan")


def _answer(client, image, question, budget_mb=MID):
    return client.predict(handle_file(image), question, budget_mb, *SETTINGS,
                          api_name="/answer")


def test_profile_endpoint(client):
    heat, lines, summary, _detail, profile = client.predict(0.5, 32, "kmeans", 100, 256, False,
                                                            api_name="/profile")
    assert heat is not None and lines is not None
    assert "LUQ order" in summary
    assert len(profile["layers"]) >= 12
    assert all(x["n_image"] > 0 and x["n_text"] > 0 for x in profile["layers"])


def test_plan_endpoint_respects_the_budget(client):
    *_, summary, _curve, path, plan = _plan(client, MID)
    assert plan["memory_bytes"] <= MID * 1e6
    assert 0.0 <= plan["accuracy"] <= 1.0
    assert "Accuracy" in summary and "100 fixed test questions" in summary
    assert open(path).read().count('"name"') == len(plan["layers"])


def test_more_budget_means_fewer_ultra_low_layers(client):
    small = _plan(client, round(LO + 0.1 * (HI - LO), 4))[-1]
    large = _plan(client, round(LO + 0.9 * (HI - LO), 4))[-1]
    assert small["n_low"] > large["n_low"]


@pytest.mark.parametrize("budget", [0.2, 0.01, "lots"])
def test_bad_budgets_are_clear_errors(client, budget):
    clear = "smallest possible plan|less than minimum|Expected a `float`"
    with pytest.raises(Exception, match=clear):
        _plan(client, budget)
    assert _plan(client, MID)[-1]["memory_bytes"] <= MID * 1e6  # still serving


def test_answer_endpoint_gives_three_answers(client):
    cards = _answer(client, EXAMPLE, "how many objects are there ?")
    assert len(cards) == 3
    assert "Full precision" in cards[0] and "Uniform" in cards[1] and "LUQ" in cards[2]
    assert all("MB of weights" in c for c in cards)


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


def test_unloadable_model_keeps_the_current_one(client):
    with pytest.raises(Exception, match="(?s)Could not load.*stays on embedded"):
        client.predict("no-such-org/no-such-model", api_name="/load_model")
    assert _plan(client, MID)[-1]["memory_bytes"] <= MID * 1e6


def test_concurrent_users_see_their_own_plans(app_url):
    budgets = [round(LO + f * (HI - LO), 4) for f in (0.05, 0.3, 0.5, 0.7, 0.95, 0.05, 0.5, 0.95)]
    expected = {}
    ref = Client(app_url, verbose=False)
    for b in set(budgets):
        expected[b] = _plan(ref, b)[-1]

    def run(budget):
        c = Client(app_url, verbose=False)
        plan = _plan(c, budget)[-1]
        cards = _answer(c, EXAMPLE, "how many objects are there ?", budget)
        return budget, plan, cards

    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, budgets))
    for budget, plan, cards in results:
        assert plan["n_low"] == expected[budget]["n_low"]
        assert plan["accuracy"] == expected[budget]["accuracy"]
        assert plan["memory_bytes"] <= budget * 1e6
        assert f"LUQ ({expected[budget]['n_low']} layers" in cards[2]

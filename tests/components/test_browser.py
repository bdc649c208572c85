"""What a person sees: the app in headless Debian chromium, driven by Playwright.

Screenshots land in ``test-artifacts/`` for a human to look at.
"""

import re
import shutil
from pathlib import Path

import pytest

from luq.models.registry import ASSETS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None,
                                reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
        yield browser
        browser.close()


def _open(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url, wait_until="load")
    return page


@pytest.fixture(scope="module")
def page(browser, app_url):
    return _open(browser, app_url)


@pytest.fixture
def browser_page(browser, app_url):
    page = _open(browser, app_url)
    yield page
    page.close()


def test_heatmaps_appear_on_load(page):
    page.get_by_text("LUQ order").wait_for(timeout=90_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
    assert page.locator(".js-plotly-plot").count() >= 2
    page.wait_for_timeout(1000)  # let plotly finish drawing before the screenshot
    page.screenshot(path=ARTIFACTS / "1-entropy.png", full_page=True)


def test_budget_slider_changes_plan_and_memory(page):
    page.get_by_role("tab", name="Budget").click()
    summary = page.get_by_text(re.compile(r"Memory \d+\.\d+ MB"))
    summary.wait_for(timeout=90_000)
    before = summary.inner_text()
    box = page.get_by_label("number input for Memory budget", exact=False)
    from tests.components.test_app_api import LO

    box.fill(f"{LO + 0.01:.3f}")
    box.blur()  # the number box releases the slider on blur
    after, waited = before, 0
    while after == before and waited < 90_000:  # the summary itself, not any other text
        page.wait_for_timeout(250)
        waited += 250
        after = summary.first.inner_text()
    assert after != before
    # a new plan is shown at once, then again with its measured accuracy
    page.get_by_text(re.compile(r"Accuracy \d+\.\d%")).first.wait_for(timeout=90_000)
    page.screenshot(path=ARTIFACTS / "2-budget.png", full_page=True)


def test_arena_gives_three_answers_and_the_llamacpp_one(page):
    page.get_by_role("tab", name="VQA arena").click()
    example = sorted((ASSETS / "examples").glob("*.png"))[2]
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Click to Upload").first.click()
    chooser.value.set_files(str(example))
    page.locator("img[src*='example_2']").or_(page.locator("img")).first.wait_for()
    page.get_by_label("Question").fill("how many objects are there ?")
    page.get_by_role("button", name="Ask", exact=True).click()
    card = page.get_by_text(re.compile(r"\d+ ms · [\d.]+ MB of weights"))
    card.nth(2).wait_for(timeout=90_000)
    assert card.count() == 3
    gguf = page.get_by_text(re.compile(r"\d+ ms · [\d.]+ MB of GGUF files"))
    gguf.wait_for(timeout=120_000)  # the plan's GGUF is exported on the first question
    page.screenshot(path=ARTIFACTS / "3-arena.png", full_page=True)


def test_saved_benchmarks_are_shown_without_waiting(page):
    from components import measured

    page.get_by_role("tab", name="About").click()
    claims = measured.load("claims")
    if claims is None:
        page.get_by_text("No saved measurement of the paper's claims yet").wait_for()
    else:
        page.get_by_text("Does the embedded model show what the paper claims?").wait_for()
        page.get_by_text(re.compile(r"\(a\) Image tokens have higher entropy")).wait_for()
    page.screenshot(path=ARTIFACTS / "4-about.png", full_page=True)


def test_budget_tab_shows_every_orders_curve_before_any_click(browser_page):
    from components import measured

    if measured.load("tradeoff") is None:
        pytest.skip("no saved trade-off curve")
    page = browser_page  # a fresh page: nothing clicked yet
    page.get_by_role("tab", name="Budget").click()
    legend = page.locator(".js-plotly-plot .legend")
    for order in ("highest entropy first", "random (mean of seeds)", "by depth"):
        legend.get_by_text(re.compile(re.escape(order))).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=ARTIFACTS / "5-budget-curves-on-arrival.png", full_page=True)


def test_what_fits_tab(page):
    page.get_by_role("tab", name="What fits").click()
    page.get_by_role("button", name="What fits?").click()
    page.get_by_text(re.compile(r"\d+ of 32 blocks")).first.wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"The paper's measured point for LLaVA-1.5-7B")).wait_for()
    page.screenshot(path=ARTIFACTS / "6-what-fits.png", full_page=True)


def test_unknown_words_are_flagged_in_the_arena(page):
    page.get_by_role("tab", name="VQA arena").click()
    question = page.get_by_label("Question")
    question.fill("")
    question.press_sequentially("wie viele formen gibt es ?", delay=20)
    try:
        page.get_by_text(re.compile(r"does not know the words")).wait_for(timeout=60_000)
    finally:
        page.screenshot(path=ARTIFACTS / "7-arena-unknown-words.png", full_page=True)
    page.get_by_text("Vocabulary of the embedded model").click()
    page.get_by_text(re.compile(r"Words the embedded model knows")).wait_for()
    page.screenshot(path=ARTIFACTS / "7-arena-unknown-words.png", full_page=True)


def _choose(page, label: str, option: str) -> None:
    box = page.get_by_label(label, exact=True).locator("visible=true").first
    box.click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()


def test_llama_cpp_types_as_settings_and_the_two_luq_cards_agree(browser_page):
    """The Budget tab with llama.cpp types chosen, then the arena: the LUQ card (PyTorch) and
    the LUQ-in-llama.cpp card answer alike, and the card says so."""
    page = browser_page
    page.get_by_role("tab", name="Budget").click()
    page.get_by_text(re.compile(r"Memory \d+\.\d+ MB")).wait_for(timeout=120_000)
    _choose(page, "Ultra-low setting", "llama.cpp IQ1_M")
    page.get_by_text(re.compile(r"ultra-low \(IQ1_M\)")).wait_for(timeout=120_000)
    _choose(page, "High setting", "llama.cpp Q4_K")
    page.get_by_text(re.compile(r"the rest Q4_K")).wait_for(timeout=120_000)
    page.get_by_text(re.compile(r"Accuracy \d+\.\d%")).first.wait_for(timeout=120_000)
    page.wait_for_timeout(1000)
    # a new setting resets the range and its default budget first: the plan is at that budget
    box = page.get_by_label("number input for Memory budget", exact=False)
    planned = float(re.search(r"\(budget (\d+\.\d+) MB\)",
                              page.locator("body").inner_text())[1])
    assert abs(planned - float(box.input_value())) < 1e-3, (planned, box.input_value())
    page.screenshot(path=ARTIFACTS / "8-budget-llamacpp-types.png", full_page=True)
    page.get_by_role("tab", name="VQA arena").click()
    example = sorted((ASSETS / "examples").glob("*.png"))[1]
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Click to Upload").first.click()
    chooser.value.set_files(str(example))
    page.locator("img").first.wait_for()
    page.get_by_label("Question").fill("what color is the circle ?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.get_by_text(re.compile(r"LUQ \(\d+ layers IQ1_M\)")).wait_for(timeout=120_000)
    page.get_by_text("Same answer as the LUQ card").wait_for(timeout=180_000)
    page.wait_for_timeout(500)
    page.screenshot(path=ARTIFACTS / "9-arena-llamacpp-agrees.png", full_page=True)

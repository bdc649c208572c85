"""Many users at once: 16 clients with their own orders and budgets, /plan and /answer
interleaved for 60 s on 127.0.0.1. Every reply must be the one that client's own plan gives
alone, with no error, and the model is loaded once."""

import concurrent.futures as cf
import time

from gradio_client import Client

from tests.components.test_app_api import EXAMPLE, HI, LO, _ask, _plan

SECONDS = 60
CLIENTS = 16
ORDERS = ("sensitivity", "entropy", "random")
QUESTIONS = ("how many objects are there ?", "what color is the circle ?")


def _configs() -> list[tuple[str, float, str]]:
    fractions = (0.05, 0.3, 0.5, 0.7, 0.95, 0.15)
    return [(ORDERS[i % 3], round(LO + fractions[i % 6] * (HI - LO), 4), QUESTIONS[i % 2])
            for i in range(CLIENTS)]


def _answers(cards) -> tuple[str, ...]:
    """Title and answer of each card (the latency line varies from run to run)."""
    return tuple("\n".join(card.splitlines()[:2]) for card in cards)


def test_sixteen_clients_for_a_minute_each_see_their_own_plan(app_url):
    from components.workbench import MODELS

    loads = MODELS.loads
    reference = Client(app_url, verbose=False)
    expected = {}
    for order, budget, question in set(_configs()):  # each plan alone, one after another
        plan = _plan(reference, budget, order=order)[-1]
        notice, *cards = _ask(reference, EXAMPLE, question, budget, order)
        expected[(order, budget, question)] = (plan["n_low"], plan["memory_bytes"],
                                               plan["accuracy"], _answers(cards))
    deadline = time.monotonic() + SECONDS

    def user(config) -> tuple[int, list[str]]:
        order, budget, question = config
        client = Client(app_url, verbose=False)
        n_low, memory, accuracy, answers = expected[config]
        calls, wrong = 0, []
        while time.monotonic() < deadline:
            plan = _plan(client, budget, order=order)[-1]
            if (plan["n_low"], plan["memory_bytes"], plan["accuracy"]) != (n_low, memory,
                                                                           accuracy):
                wrong.append(f"{config}: plan {plan['n_low']} / {plan['memory_bytes']}")
            _, *cards = _ask(client, EXAMPLE, question, budget, order)
            if _answers(cards) != answers:
                wrong.append(f"{config}: answers {_answers(cards)} != {answers}")
            calls += 2
        return calls, wrong

    with cf.ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(user, _configs()))  # any error in a request raises here
    assert all(calls >= 2 for calls, _ in results)
    assert [w for _, wrong in results for w in wrong] == []
    assert MODELS.loads - loads <= 1 and "embedded" in MODELS.names()  # loaded once at most

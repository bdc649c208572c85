"""The session's lock rules: every run applies its own plan under the lock, memoised
accuracies are measured once, orders are scored on the full-precision model, statistics
come from one default, and the process cache loads a model once."""

import threading
import time

import pytest

import luq.session as session_module
from luq.defaults import HIGH, LOW
from luq.models.loading import load_model
from luq.plan import BitPlan
from luq.session import STATS_SAMPLES, Evaluation, Session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    import os

    os.environ.setdefault("LUQ_CACHE_DIR", str(tmp_path_factory.mktemp("luq-cache")))
    return Session(load_model("tiny-random-llava"))


def _counting_evaluation(calls: list, delay: float = 0.05) -> Evaluation:
    def score(loaded):
        calls.append(1)
        time.sleep(delay)  # long enough for other threads to arrive meanwhile
        return 0.5

    return Evaluation(f"counting-{id(calls)}", "accuracy", score)


def test_run_applies_each_callers_plan_under_the_lock(session):
    names = session.block_names
    plans = [BitPlan.uniform(names, HIGH), BitPlan.mixed(names, HIGH, LOW, names[:1]), None]
    seen = []

    def worker(plan):
        for _ in range(5):
            def check(_loaded, plan=plan):
                applied = session.store.current
                time.sleep(0.002)  # another thread would swap blocks here without the lock
                return applied is plan and session.store.current is plan
            seen.append(session.run(plan, check))

    threads = [threading.Thread(target=worker, args=(p,)) for p in plans * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 30 and all(seen)


def test_accuracy_is_measured_once_per_plan_even_when_asked_together(session):
    calls = []
    session.set_evaluation(_counting_evaluation(calls))
    plan = BitPlan.uniform(session.block_names, HIGH)
    results = []
    threads = [threading.Thread(target=lambda: results.append(session.accuracy(plan)))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0.5] * 6 and len(calls) == 1
    assert session.known_accuracy(plan) == 0.5
    assert session.known_accuracy(BitPlan.uniform(session.block_names, LOW)) is None


def test_orders_are_scored_on_the_full_precision_model(session):
    before = session.profile().values()
    names = session.block_names
    session.run(BitPlan.uniform(names, LOW), lambda _: None)  # another request's plan
    session._scores.clear()
    assert session.scores("entropy", HIGH, LOW) == before
    assert session.profile().values() == before


def test_statistics_come_from_one_default(monkeypatch, session):
    seen = []
    real = session_module.calibration_batches

    def spy(processor, dataset, prompts, config):
        seen.append(config)
        return real(processor, dataset, prompts, config)

    monkeypatch.setattr(session_module, "calibration_batches", spy)
    session.run(None, lambda _: None)  # a new session takes the blocks as they are
    fresh = Session(session.loaded)
    fresh.prepare([LOW])
    fresh.prepare([LOW])  # once per session
    assert [c.samples for c in seen] == [STATS_SAMPLES]
    assert fresh.store.quantize_calls == len(fresh.block_names)
    fresh.run(None, lambda _: None)


def test_plan_for_budget_and_for_accuracy(session):
    session.set_evaluation(Evaluation("by-count", "accuracy",
                                      lambda loaded: 1.0 - 0.1 * _n_low(session)))
    lo = session.memory(session.uniform(LOW)).total_bytes
    hi = session.memory(session.uniform(HIGH)).total_bytes
    sel = session.plan_for_budget((lo + hi) // 2, HIGH, LOW, "depth")
    assert sel.memory.total_bytes <= (lo + hi) // 2 and sel.n_low >= 1
    floor = session.plan_for_accuracy(0.75, HIGH, LOW, "depth")
    assert floor.n_low == 2 and "stopped before" in floor.note
    with pytest.raises(ValueError, match="smallest possible plan"):
        session.plan_for_budget(lo - 1, HIGH, LOW, "depth")


def _n_low(session) -> int:
    current = session.store.current
    return 0 if current is None else current.count(LOW)


def test_curve_averages_random_seeds_and_only_reports_measured_points(session):
    calls = []
    session.set_evaluation(_counting_evaluation(calls, delay=0))
    assert session.curve("depth", HIGH, LOW, measure=False) == []
    points = session.curve("depth", HIGH, LOW)
    assert [p["n_low"] for p in points] == list(range(len(session.block_names) + 1))
    assert session.curve("depth", HIGH, LOW, measure=False) == points
    random_curve = session.curve("random", HIGH, LOW)
    assert len(random_curve) == len(points)


def test_a_sensitivity_probe_lets_other_runs_in_between_its_steps(session, tmp_path,
                                                                  monkeypatch):
    """The probe takes the lock one block at a time: a run asked for mid-probe finishes
    before the probe does, and sees its own plan."""
    from luq.calibration import CalibrationConfig

    monkeypatch.setenv("LUQ_CACHE_DIR", str(tmp_path))  # no cached probe: it must run
    first_step, run_done, order = threading.Event(), threading.Event(), []

    def progress(done, total, message):
        if message.startswith("probing"):
            first_step.set()
            run_done.wait(timeout=30)  # hold the probe here, outside the lock

    probe = threading.Thread(target=lambda: (session.sensitivity(
        LOW, HIGH, CalibrationConfig(4), progress=progress), order.append("probe")))
    probe.start()
    assert first_step.wait(timeout=60)
    plan = BitPlan.uniform(session.block_names, HIGH)
    seen = session.run(plan, lambda loaded: session.store.current)
    order.append("run")
    run_done.set()
    probe.join(timeout=120)
    assert order == ["run", "probe"] and seen == plan


def test_a_deadline_in_the_progress_callback_ends_a_profile_and_the_model_still_runs(
        session, tmp_path, monkeypatch):
    from luq.calibration import CalibrationConfig

    monkeypatch.setenv("LUQ_CACHE_DIR", str(tmp_path))

    def deadline(done, total, message):
        raise TimeoutError("over the time limit")

    with pytest.raises(TimeoutError):
        session.profile(CalibrationConfig(4), progress=deadline)
    assert session.run(None, lambda loaded: session.store.current) is None

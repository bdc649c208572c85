"""The endpoints' shared guard: one-line errors, no server paths, time bounds, number checks."""

import math

import gradio as gr
import pytest

from components.guard import Deadline, TimeLimit, finite_number, public, scrub, whole_number


def test_scrub_hides_server_paths_but_keeps_what_the_visitor_typed():
    text = "cannot read /root/.cache/x.json\n for /data/mine: see https://hf.co/a/b"
    out = scrub(text, keep=("/data/mine",))
    assert out == "cannot read <server path> for /data/mine: see https://hf.co/a/b"


def test_public_turns_any_failure_into_one_clear_line():
    @public("Doing it")
    def broken(path):
        raise KeyError("/work/main/secret")

    with pytest.raises(gr.Error) as err:
        broken("x")
    assert err.value.message.startswith("Doing it failed (KeyError)")
    assert "/work" not in err.value.message

    @public("Reading")
    def clear(path):
        raise gr.Error(f"no {path} and no /srv/app/file")

    with pytest.raises(gr.Error) as err:
        clear("/data/x")
    assert err.value.message == "no /data/x and no <server path>"


def test_a_generator_of_replies_stays_a_generator_and_its_failures_one_line():
    import inspect

    @public("Planning")
    def replies(path):
        yield "first"
        raise KeyError("/work/main/secret")

    assert inspect.isgeneratorfunction(replies)  # Gradio streams its replies
    out = replies("x")
    assert next(out) == "first"
    with pytest.raises(gr.Error) as err:
        next(out)
    assert err.value.message.startswith("Planning failed (KeyError)")
    assert "/work" not in err.value.message


def test_a_deadline_ends_a_step_through_its_progress_callback():
    deadline = Deadline("Profiling", 0.0)
    with pytest.raises(TimeLimit, match="Profiling was stopped after 0 s"):
        deadline(1, 2, "step")

    @public("Profiling")
    def step():
        deadline(1, 2, "step")

    with pytest.raises(gr.Error, match="stopped after"):
        step()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "x", None, 1e400])
def test_numbers_must_be_finite(value):
    with pytest.raises(gr.Error, match="number"):
        finite_number(value, "The budget")


def test_whole_numbers_are_bounded():
    assert whole_number("12", "N", 1, 100) == 12
    with pytest.raises(gr.Error, match="between 1 and 100"):
        whole_number(1000, "N", 1, 100)
    with pytest.raises(gr.Error, match="whole number"):
        whole_number(2.5, "N", 1, 100)

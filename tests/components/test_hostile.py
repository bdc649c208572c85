"""A hostile visitor against the running app (127.0.0.1 only), through gradio_client.

Property-based values for every public endpoint's every parameter: numbers that are NaN,
infinite, huge, negative or not numbers; strings that are long, unicode, paths or hub-id
shaped; files that are not what they claim, configs with huge or missing fields, JSON that
is not an object. Bounded in count; the server must never die, every reply must be an
answer or one clear line (no traceback, no framework message, no server path), and RSS must
stay bounded.
"""

import json
import math
import os
import re

import pytest
from gradio_client import handle_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luq.resources import process_rss_bytes
from tests.components.test_app_api import EXAMPLE, MID, SETTINGS, _plan

SHIPPED = "llava-hf/llava-1.5-7b-hf"
EXAMPLES = int(os.environ.get("LUQ_HOSTILE_EXAMPLES", "12"))  # per endpoint
HOSTILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
LEAKS = re.compile(r"Traceback|File \"|site-packages|/root/|/work/|/home/|/usr/|/proc/\d|"
                   r"Could not postprocess|Exception:|object at 0x")

numbers = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, -1, 0, 10**12, -(10**12),
                     2**63, 0.5, 1e-300]),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20),
    st.text(max_size=20), st.none())
paths = st.sampled_from(["/etc/passwd", "/etc", "../../../../etc", "/proc/self/environ",
                         "/proc/self", "~/.ssh/id_rsa", "/dev/zero", "/tmp/*", "data/../../etc",
                         "\\\\server\\share", "file:///etc/passwd", "a" * 5000, "x\x00y"])
hub_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,12}/[A-Za-z0-9._-]{1,12}\Z")
strings = st.one_of(paths, hub_ids, st.text(max_size=300), st.text(min_size=2000,
                                                                      max_size=3000),
                    st.sampled_from(["", " ", "embedded", "billm", "rtn4", "entropy", "💥" * 50,
                                     "<script>alert(1)</script>", "' OR 1=1 --"]))
booleans = st.one_of(st.booleans(), st.none(), st.integers(-2, 2), st.text(max_size=5))


def _check(call):
    """Runs ``call()``; a reply or a one-line clear error, nothing leaked."""
    try:
        return call()
    except Exception as err:  # noqa: BLE001 - every error is checked for what it shows
        message = str(err)
        if os.environ.get("LUQ_HOSTILE_LOG"):
            with open(os.environ["LUQ_HOSTILE_LOG"], "a") as log:
                log.write(f"{type(err).__name__}: {message}\n")
        assert message.strip(), "an empty error"
        assert not LEAKS.search(message), message
        assert len(message) < 1000, message
        return None


def _alive(client):
    assert _plan(client, MID)[-1]["memory_bytes"] <= MID * 1e6


@pytest.fixture(scope="module")
def rss_before(client):
    _alive(client)  # the model is loaded before RSS is first read
    return process_rss_bytes()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    huge = {"model_type": "llava", "text_config": {"model_type": "llama",
                                                   "num_hidden_layers": 10_000_000}}
    files = {"ten-million-layers.json": json.dumps(huge),
             "wide.json": json.dumps({"model_type": "llava", "text_config": {
                 "model_type": "llama", "hidden_size": 10**9}}),
             "list.json": "[1, 2, 3]", "number.json": "42", "empty.json": "",
             "no-type.json": "{}", "nested.json": "[" * 100_000 + "]" * 100_000,
             "not-json.json": "\x89PNG\r\n", "floats.json": json.dumps({
                 "model_type": "llava", "text_config": {"num_hidden_layers": 1.5e300}})}
    out = []
    for name, text in files.items():
        (folder / name).write_text(text)
        out.append(str(folder / name))
    (folder / "not-an-image.png").write_text("hello")
    out.append(str(folder / "not-an-image.png"))
    return out


def _one_bad(defaults: list, kinds: list):
    """Every argument valid but one, drawn from that argument's hostile strategy: each
    parameter's own checks are reached (all-random arguments stop at the first)."""
    return st.integers(0, len(defaults) - 1).flatmap(
        lambda i: kinds[i].map(lambda bad: [*defaults[:i], bad, *defaults[i + 1:]]))


PLAN_DEFAULTS = [MID, *SETTINGS, False, "budget", 0.9, "shapes", "", 100, "official", "F16"]
PLAN_KINDS = [numbers, strings, strings, strings, booleans, strings, numbers,
              st.one_of(strings, st.just("mme")), strings, numbers, strings, strings]
ANSWER_DEFAULTS = ["what color is the circle ?", MID, *SETTINGS, False]
ANSWER_KINDS = [strings, numbers, strings, strings, strings, booleans]


@HOSTILE
@given(args=_one_bad([0.5, 16, "kmeans", 100, 256, False],
                     [numbers, numbers, strings, numbers, numbers, booleans]))
def test_profile(client, rss_before, args):
    _check(lambda: client.predict(*args, api_name="/profile"))


@HOSTILE
@given(args=_one_bad([0.5, 8, "kmeans"], [numbers, numbers, strings]))
def test_sensitivity(client, rss_before, args):
    _check(lambda: client.predict(*args, api_name="/sensitivity"))


@HOSTILE
@given(args=_one_bad(PLAN_DEFAULTS, PLAN_KINDS))
def test_plan(client, rss_before, args):
    _check(lambda: client.predict(*args, api_name="/plan"))


@HOSTILE
@given(args=_one_bad([*SETTINGS[:2], "F16"], [strings, strings, strings]))
def test_budget_range(client, rss_before, args):
    _check(lambda: client.predict(*args, api_name="/budget_range"))


@HOSTILE
@given(plan_data=st.one_of(paths, hub_ids), limit=st.one_of(st.just(100), numbers))
def test_plan_task_data(client, rss_before, plan_data, limit):
    _check(lambda: client.predict(*PLAN_DEFAULTS[:7], "mme", plan_data, limit,
                                  api_name="/plan"))


@HOSTILE
@given(args=_one_bad(ANSWER_DEFAULTS, ANSWER_KINDS),
       endpoint=st.sampled_from(["/answer", "/answer_llamacpp"]))
def test_answer(client, rss_before, args, endpoint):
    _check(lambda: client.predict(handle_file(EXAMPLE), *args, api_name=endpoint))


@HOSTILE
@given(plan=st.one_of(st.none(), st.integers(), strings, st.lists(st.integers(), max_size=3),
                      st.dictionaries(strings, st.one_of(strings, numbers), max_size=3),
                      st.just({"layers": [{"name": "/etc/passwd", "method": "rtn"}]}),
                      st.just({"layers": "x" * 1000})))
def test_gguf(client, rss_before, plan):
    _check(lambda: client.predict(plan, api_name="/gguf"))


@HOSTILE
@given(name=strings)
def test_load_model(client, rss_before, name):
    _check(lambda: client.predict(name, api_name="/load_model"))


@HOSTILE
@given(args=_one_bad(["hub", "llava-hf/llava-1.5-7b-hf", "org/model", None, 3.5, "billm",
                      "rtn4", "auto", "F16"],
                     [st.one_of(st.sampled_from(["shipped", "hub", "upload"]), strings),
                      strings, st.one_of(hub_ids, strings), st.none(), numbers, strings,
                      strings, strings, strings]))
def test_what_fits(client, rss_before, args):
    _check(lambda: client.predict(*args, api_name="/what_fits"))


def test_bad_files_to_every_file_parameter(client, rss_before, bad_files):
    for path in bad_files:
        _check(lambda p=path: client.predict("upload", SHIPPED, "", handle_file(p), 3.5, "billm",
                                             "rtn4", "auto", api_name="/what_fits"))
        _check(lambda p=path: client.predict(handle_file(p), "what color is the circle ?", MID,
                                             *SETTINGS, False, api_name="/answer"))


def test_last_the_server_serves_and_rss_stayed_bounded(client, rss_before):
    _alive(client)
    grown = process_rss_bytes() - rss_before
    assert grown < 600e6, f"RSS grew {grown / 1e6:.0f} MB over the hostile suite"


def test_a_ten_million_layer_config_is_refused_and_nothing_is_built(client, bad_files):
    before = process_rss_bytes()
    huge = next(p for p in bad_files if p.endswith("ten-million-layers.json"))
    with pytest.raises(Exception, match="num_hidden_layers = 10000000 is over this app's "
                                        "limit of 1024 layers; nothing was built"):
        client.predict("upload", SHIPPED, "", handle_file(huge), 3.5, "billm", "rtn4", "auto",
                       api_name="/what_fits")
    assert process_rss_bytes() - before < 100e6
    _alive(client)


def test_paths_outside_the_data_folders_get_one_reply(client):
    replies = set()
    for path in ("/etc", "/proc/self", "/etc/passwd", "/no/such/folder", "../../../../etc"):
        with pytest.raises(Exception) as err:
            client.predict(*PLAN_DEFAULTS[:7], "mme", path, 10, api_name="/plan")
        replies.add(str(err.value).replace(path, "<path>"))
    assert len(replies) == 1 and "allowed data folders" in replies.pop()


def test_too_few_values_in_a_raw_request_reveal_nothing(app_url):
    """Gradio's own message for a short request names every component object; the public
    app hides framework messages (``show_error=False``); ``gr.Error`` lines still show."""
    import httpx

    with httpx.Client(base_url=app_url, timeout=60) as http:
        event = http.post("gradio_api/call/plan", json={"data": [1.0, "billm"]})
        assert event.status_code == 200, event.text
        stream = http.get(f"gradio_api/call/plan/{event.json()['event_id']}").text
    assert "event: error" in stream and not LEAKS.search(stream), stream
    assert "input values" not in stream, stream


def test_nan_and_infinity_sent_as_raw_json_are_clear_errors(app_url):
    """gradio_client cannot send NaN (its JSON is strict); a raw request can."""
    import httpx

    for bad in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = f'{{"data": [{bad}, "billm", "rtn4", "entropy", false, "budget", 0.9, ' \
               '"shapes", "", 100, "official", "F16"]}'
        with httpx.Client(base_url=app_url, timeout=60) as http:
            event = http.post("gradio_api/call/plan", content=body,
                              headers={"content-type": "application/json"})
            assert event.status_code == 200, event.text
            stream = http.get(f"gradio_api/call/plan/{event.json()['event_id']}").text
        assert "event: error" in stream and not LEAKS.search(stream), stream
        assert "budget" in stream.lower(), stream


def test_uploads_over_the_size_cap_are_refused(client, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 11_000_000)  # over app.MAX_FILE_SIZE (10 MB)
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict(handle_file(str(big)), "what color is the circle ?", MID, *SETTINGS,
                       False, api_name="/answer")
    _alive(client)


@HOSTILE
@given(detail=strings)
def test_image_detail(client, rss_before, detail):
    _check(lambda: client.predict(detail, api_name="/image_detail"))

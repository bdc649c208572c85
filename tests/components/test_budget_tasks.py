"""The Budget tab on a model other than the embedded one: its accuracy axis is a named task
on real-schema data (fixtures in the hub schemas), and the model picker refreshes the tab."""

from gradio_client import Client

from tests.tasks import fixtures


def test_a_tiny_model_on_mme_and_textvqa_fixtures(app_url, tmp_path):
    client = Client(app_url, verbose=False)  # its own session: the others stay on embedded
    client.predict("tiny-random-llava", api_name="/load_model")
    for build, task, metric, harness in (
            (fixtures.build_mme_fixture, "mme", "perception", "official"),
            (fixtures.build_textvqa_fixture, "textvqa_val", "accuracy", "official"),
            (fixtures.build_pope_fixture, "pope", "f1", "lmms-eval")):
        data = build(tmp_path / task)
        bits, breakdown, summary, curve, paths, plan = client.predict(
            9.0, "billm", "rtn4", "entropy", False, "budget", 0.9, task, str(data), 8,
            harness, api_name="/plan")
        assert plan["model"] == "tiny-random-llava" and len(paths) == 3
        assert f"{metric.capitalize()}" in summary and task in summary
        assert ("lmms-eval rules" in summary) == (harness == "lmms-eval")
        assert curve["plot"] and metric in curve["plot"]


def test_missing_task_data_is_a_clear_error(app_url):
    import pytest

    client = Client(app_url, verbose=False)
    with pytest.raises(Exception, match="hf download --repo-type dataset"):
        client.predict(5.0, "billm", "rtn4", "entropy", False, "budget", 0.9, "pope", "", 8,
                       api_name="/plan")

"""The What-fits tab through gradio_client: one code path with `python -m luq memory`."""

import json
import shutil
import subprocess
import sys

import pytest
from gradio_client import handle_file

from components.settings import DEFAULT_HIGH, DEFAULT_LOW
from luq.models.registry import ASSETS

LLAVA = ASSETS / "configs" / "llava-1.5-7b-hf.json"


def _what_fits(client, source="shipped", shipped="llava-hf/llava-1.5-7b-hf", hub_id="",
               upload=None, budget=3.5, embed="auto", low="billm", high="rtn4", tower="F16"):
    return client.predict(source, shipped, hub_id, upload, budget, low, high, embed, tower,
                          api_name="/what_fits")


def test_llama_cpp_types_and_a_quantized_tower_change_the_figures(client):
    _, f16 = _what_fits(client, low="IQ1_M", high="Q4_K")
    summary, q8 = _what_fits(client, low="IQ1_M", high="Q4_K", tower="Q8_0")
    tower = sum(f16["fp16_parts"][k] for k in ("vision", "projector"))
    assert "vision" not in q8["fp16_parts"]  # no longer 16-bit
    assert q8["memory"]["breakdown"]["vision"] < f16["memory"]["breakdown"]["vision"] < tower + 1
    assert q8["n_low"] <= f16["n_low"]  # the budget holds the smaller tower: fewer blocks low


def test_an_uploaded_config_gives_the_same_answer_as_the_cli(client, tmp_path):
    config = tmp_path / "config.json"
    shutil.copy(LLAVA, config)
    summary, result = _what_fits(client, "upload", upload=handle_file(str(config)),
                                 low=DEFAULT_LOW, high=DEFAULT_HIGH)  # the CLI's defaults too
    r = subprocess.run([sys.executable, "-m", "luq", "memory", "--model",
                        "llava-hf/llava-1.5-7b-hf", "--budget-mb", "3500"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)
    assert {**result, "model": cli["model"]} == cli
    assert f"**{cli['n_low']} of 32 blocks**" in summary
    assert "LLaVA-1.5-7B" in summary and "1365" in summary  # the paper's point beside ours
    assert set(result["sizes"]) == {"fp16", "8-bit", "4-bit", "3-bit", "2-bit"}


def test_a_budget_below_the_minimum_says_so_and_quantizes_embeddings(client):
    qwen = {"shipped": "Qwen/Qwen2.5-VL-7B-Instruct", "budget": 5.0, "low": "billm-split"}
    summary, result = _what_fits(client, **qwen, embed="0")
    assert not result["fits"] and "Does not fit" in summary
    _, auto = _what_fits(client, **qwen)
    assert auto["fits"] and auto["embeddings_and_lm_head"].startswith("4-bit")


@pytest.mark.parametrize("content,message", [("not json", "not a readable JSON config"),
                                             ('{"hidden_size": 8}', "no model_type"),
                                             ('{"model_type": "bert"}',
                                              "not a vision-language model")])
def test_bad_uploads_are_clear_errors(client, tmp_path, content, message):
    bad = tmp_path / "config.json"
    bad.write_text(content)
    with pytest.raises(Exception, match=message):
        _what_fits(client, "upload", upload=handle_file(str(bad)))
    assert _what_fits(client)[1]["fits"]  # still serving


def test_an_unreachable_hub_id_is_a_clear_error(client):
    with pytest.raises(Exception, match="cannot load 'no-org/no-model'"):
        _what_fits(client, "hub", hub_id="no-org/no-model")

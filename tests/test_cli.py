import json
import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "luq", *args], capture_output=True, text=True,
                          timeout=300)


def test_memory_help():
    r = _run("memory", "--help")
    assert r.returncode == 0 and "--model" in r.stdout


def test_memory_tiny_model_json():
    r = _run("memory", "--model", "tiny-random-llava", "--bits", "4")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"total_bytes", "decoder_bytes", "full_precision_bytes", "avg_bits"} <= set(out)
    assert out["total_bytes"] == out["decoder_bytes"] + out["full_precision_bytes"]


def test_memory_of_llama_cpp_types_and_a_typed_tower():
    args = ("memory", "--model", "llava-hf/llava-1.5-7b-hf", "--method", "ggml", "--type", "Q4_K")
    out = json.loads(_run(*args).stdout)
    # 4096- and 11008-wide rows: every decoder linear holds Q4_K, 144 bytes per 256 weights
    assert out["avg_bits"] == 4.5 and out["decoder_bytes"] == 6_476_005_376 // 256 * 144
    typed = json.loads(_run(*args, "--tower", "Q8_0").stdout)
    assert typed["breakdown"]["vision"] < out["breakdown"]["vision"]
    assert typed["decoder_bytes"] == out["decoder_bytes"]
    alone = json.loads(_run("memory", "--model", "llava-hf/llava-1.5-7b-hf", "--type",
                            "Q4_K").stdout)  # a type alone is a llama.cpp setting
    assert alone["decoder_bytes"] == out["decoder_bytes"]
    r = _run("memory", "--model", "tiny-random-llava", "--method", "rtn", "--type", "Q4_K")
    assert r.returncode == 2 and "--type needs --method ggml" in r.stderr
    r = _run("memory", "--model", "tiny-random-llava", "--method", "ggml")
    assert r.returncode == 2 and "needs --type" in r.stderr


def test_memory_bad_bits_is_a_clear_error():
    r = _run("memory", "--model", "tiny-random-llava", "--bits", "9")
    assert r.returncode == 2 and "supported" in r.stderr


def test_memory_of_hub_models_from_shipped_configs():
    r = _run("memory", "--model", "llava-hf/llava-1.5-7b-hf", "--budget-mb", "3500",
             "--group-size", "128")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["total_bytes"] <= 3500e6 and out["layers"] == 32
    assert 0 < out["n_low"] < 32 and out["which_layers"] is None
    assert "needs an entropy profile" in out["note"]
    assert "avg_bits" in out


def test_budget_below_minimum_names_it_and_embed_bits_close_the_gap():
    args = ["memory", "--model", "Qwen/Qwen2.5-VL-7B-Instruct", "--budget-mb", "5000",
            "--group-size", "128", "--low-split"]  # split scales: about 2.1 bits
    r = _run(*args, "--embed-bits", "0")  # fp16 embeddings and lm_head, as asked
    assert r.returncode == 2 and "smallest possible plan" in r.stderr
    for extra in ([], ["--embed-bits", "4"]):  # by default they go to 4 bits, and say so
        r = _run(*args, *extra)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["total_bytes"] <= 5000e6 and out["n_low"] == 7
        assert out["embeddings_and_lm_head"].startswith("4-bit")
        assert ("cannot be met with fp16" in out["embeddings_and_lm_head"]) == (not extra)


def test_issue_budget_commands_print_the_counts():
    for model, budget in [("llava-hf/llava-1.5-7b-hf", "3500"),
                          ("Qwen/Qwen2.5-VL-7B-Instruct", "5000")]:
        r = _run("memory", "--model", model, "--budget-mb", budget)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["total_bytes"] <= float(budget) * 1e6
        assert out["n_low"] >= 1 and "avg_bits" in out and "profile" in out["note"]


def test_billm_split_flag_changes_the_stored_bits():
    base = ["memory", "--model", "tiny-random-llava", "--method", "billm", "--bits", "1",
            "--group-size", "0"]
    split = json.loads(_run(*base).stdout)["avg_bits"]
    no_split = json.loads(_run(*base, "--no-split").stdout)["avg_bits"]
    assert split - no_split > 0.9  # about one membership bit per weight

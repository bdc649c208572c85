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


def test_memory_bad_bits_is_a_clear_error():
    r = _run("memory", "--model", "tiny-random-llava", "--bits", "9")
    assert r.returncode == 2 and "supported" in r.stderr

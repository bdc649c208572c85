"""A smoke run of the scale benchmark at a tiny shape (the real one takes minutes)."""

from benchmarks.scale import main


def test_scale_benchmark_runs_every_step_at_a_tiny_shape():
    result = main(["--hidden", "64", "--intermediate", "128", "--layers", "3", "--heads", "4",
                   "--kv-heads", "2", "--samples", "4", "--clusters", "4", "--no-write"])
    assert [s["step"] for s in result["steps"]] == ["build", "profile", "statistics",
                                                    "variants", "plan", "apply", "answer"]
    assert all(s["seconds"] >= 0 and s["peak_rss_gb"] > 0 for s in result["steps"])
    assert abs(result["checks"]["resident_vs_accounted"]) < 0.01
    assert result["resident_after_answer_bytes"] >= result["resident_weight_bytes"]
    assert isinstance(result["answer"], str)


def test_the_ultra_low_setting_can_be_another_llama_cpp_type():
    result = main(["--hidden", "256", "--intermediate", "512", "--layers", "2", "--heads", "4",
                   "--kv-heads", "2", "--samples", "4", "--clusters", "4", "--low-type", "IQ1_M",
                   "--no-write"])
    assert "IQ1_M" in result["low"] and result["n_low"] >= 1
    assert abs(result["checks"]["resident_vs_accounted"]) < 0.01

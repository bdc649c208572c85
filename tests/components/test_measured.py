"""Saved benchmark results as the Budget and About tabs show them."""

import json

from components import measured

MACHINE = {"date": "2026-11-25", "cpu": "x86_64", "cores": 2, "gpu": None}


def tradeoff(entropy_auc=0.7, random_auc=0.6, desc_auc=0.5):
    curve = [{"n_low": n, "memory_bytes": 4_000_000 - n * 100_000,
              "decoder_bytes": 1_000_000 - n * 100_000, "avg_bits": 4.5 - n * 0.2,
              "accuracy": 0.9 - 0.05 * n} for n in range(4)]
    return {"machine": MACHINE, "high": "rtn-4b-g64", "low": "billm-1b-pc", "n": 200,
            "max_relative_loss": 0.1,
            "full": {"memory_bytes": 6_000_000, "accuracy": 0.92},
            "uniform": [{"spec": "rtn-4b-g64", "memory_bytes": 4_000_000, "accuracy": 0.9}],
            "curves": {"entropy": curve, "random": curve, "entropy-desc": curve},
            "summary": [{"order": "entropy", "auc": entropy_auc, "n_low_at_10pct": 1,
                         "saved_vs_4bit": 0.025, "saved_decoder_vs_4bit": 0.1},
                        {"order": "random", "auc": random_auc, "n_low_at_10pct": 1,
                         "saved_vs_4bit": 0.025, "saved_decoder_vs_4bit": 0.1},
                        {"order": "entropy-desc", "auc": desc_auc, "n_low_at_10pct": None,
                         "saved_vs_4bit": 0.0, "saved_decoder_vs_4bit": 0.0}]}


def claims(rho=-0.6, above=(9, 12), alpha_best=0.5):
    mix = [{"alpha": a, "luq_accuracy": 0.8 if a == alpha_best else 0.7,
            "all_low_accuracy": 0.3} for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    layers = 4
    return {"machine": MACHINE, "high": "rtn-4b-g64", "low": "billm-1b-pc",
            "image_above_text": {"kmeans": {"layers": above[1], "image_above_text": above[0]},
                                 "hist": {"layers": above[1], "image_above_text": 3}},
            "entropy_vs_drop": {"base_accuracy": 0.9, "entropy": [1.0, 2.0, 3.0, 4.0],
                                "accuracy_drop": [0.3, 0.1, 0.05, 0.0],
                                "kl": [0.2] * layers,
                                "spearman": {"kmeans/all": {"vs_accuracy_drop": rho,
                                                            "vs_kl": rho}}},
            "area_under_curve": None, "alpha_mix": mix}


def test_missing_or_corrupt_results_give_a_how_to_line(tmp_path):
    assert measured.load("tradeoff", tmp_path) is None
    (tmp_path / "claims.json").write_text("{not json")
    assert measured.load("claims", tmp_path) is None
    assert "python -m benchmarks.tradeoff" in measured.tradeoff_markdown(None)
    assert "python -m benchmarks.claims" in measured.claims_markdown(None, None)


def test_saved_file_round_trips(tmp_path):
    (tmp_path / "tradeoff.json").write_text(json.dumps(tradeoff()))
    assert measured.load("tradeoff", tmp_path)["summary"][0]["auc"] == 0.7


def test_tradeoff_table_ranks_orders_and_names_the_machine():
    text = measured.tradeoff_markdown(tradeoff(entropy_auc=0.5, random_auc=0.8))
    assert "2026-11-25" in text and "2-core CPU" in text
    assert text.index("random (mean of seeds)") < text.index("LUQ: lowest entropy first")
    assert "| highest entropy first | - | 0.0 % |" in text


def test_tradeoff_figure_has_every_order_and_the_baselines():
    fig = measured.tradeoff_figure(tradeoff())
    names = [trace.name for trace in fig.data]
    assert len(names) == 5 and "uniform" in names and "full precision" in names
    assert "2026-11-25" in fig.layout.title.text


def test_claims_verdicts_follow_the_numbers():
    against = measured.claims_markdown(claims(rho=-0.6, above=(3, 12), alpha_best=0.0),
                                       tradeoff(entropy_auc=0.4))
    assert "In 3 of 12 layers" in against and "the model does not agree" in against
    assert "-0.60" in against and "contradicts" in against
    assert "most damaging layer: 0" in against
    for_ = measured.claims_markdown(claims(rho=0.7, above=(10, 12), alpha_best=0.5),
                                    tradeoff(entropy_auc=0.9))
    assert "+0.70" in for_ and "supports" in for_
    assert for_.count("the model agrees") == 3

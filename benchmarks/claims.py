"""The paper's four claims, measured on the embedded model and stated whatever the result.

    python -m benchmarks.claims [--n 200] [--labelled 200]

(a) image-token entropy is above text-token entropy in most decoder layers;
(b) a layer's entropy predicts the accuracy it loses when it alone goes ultra-low: the
    paper's premise (low entropy, little loss) means a *positive* Spearman rho between
    entropy and the drop;
(c) entropy-ascending selection has a larger area under the memory-accuracy curve than
    random or highest-entropy-first (read from ``benchmarks/results/tradeoff.json``);
(d) alpha-mixed calibration (image+text share alpha) beats text-only (alpha = 0) at
    ultra-low bits.
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import RESULTS, print_table, write_result
from luq.calibration import CalibrationConfig
from luq.defaults import HIGH, LOW
from luq.embedded import load_split
from luq.entropy import ESTIMATORS
from luq.evaluation import evaluate
from luq.models.loading import load_model
from luq.pipeline import run_profile
from luq.plan import BitPlan
from luq.profile import EntropyConfig
from luq.select import layer_order
from luq.sensitivity import spearman
from luq.session import Session

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def image_above_text(loaded, calib: CalibrationConfig) -> dict:
    """Claim (a): per estimator, how many layers have image entropy > text entropy."""
    out = {}
    for estimator in ESTIMATORS:
        profile = run_profile(loaded, calib, EntropyConfig(estimator))
        image, text = profile.values("image"), profile.values("text")
        out[estimator] = {"layers": len(image),
                          "image_above_text": sum(i > t for i, t in zip(image, text)),
                          "image": image, "text": text}
    return out


def entropy_vs_drop(session: Session, calib: CalibrationConfig, labelled: int) -> dict:
    """Claim (b): each layer alone at the ultra-low setting (the rest in full precision)."""
    loaded = session.loaded
    profile = session.profile(calib, EntropyConfig("kmeans"))
    sens = session.sensitivity(LOW, None, calib, profile=profile.to_dict(), labelled=labelled)
    drops = [layer["sensitivity_acc"] for layer in sens["layers"]]
    kls = [layer["sensitivity_kl"] for layer in sens["layers"]]
    rho = {}
    for estimator in ESTIMATORS:
        prof = run_profile(loaded, calib, EntropyConfig(estimator))
        for modality in ("image", "text", "all"):
            values = prof.values(modality)
            rho[f"{estimator}/{modality}"] = {"vs_accuracy_drop": round(spearman(values, drops), 4),
                                              "vs_kl": round(spearman(values, kls), 4)}
    return {"base_accuracy": sens["sensitivity"]["base_accuracy"], "accuracy_drop": drops,
            "kl": kls, "entropy": profile.values(), "spearman": rho,
            "bootstrap_kl": sens["spearman"]}


def area_claim() -> dict | None:
    """Claim (c), from the trade-off benchmark's saved result (None if not run yet)."""
    path = RESULTS / "tradeoff.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return {row["order"]: row["auc"] for row in data["summary"]}


def alpha_mix(loaded, n: int, n_low: int) -> list[dict]:
    """Claim (d): calibration mix alpha -> entropy plan (``n_low`` blocks ultra-low) and
    the ultra-low setting everywhere, both quantized with that calibration's statistics."""
    rows = load_split("test", n)
    out = []
    for alpha in ALPHAS:
        calib = CalibrationConfig(64, alpha)
        session = Session(loaded, statistics=calib)  # statistics of this calibration
        names = session.block_names
        profile = session.profile(calib, EntropyConfig("kmeans"))
        low_names = layer_order(names, "entropy", profile.values())[:n_low]
        plan = BitPlan.mixed(names, HIGH, LOW, low_names, order="entropy")

        def accuracy(m):
            return evaluate(m.model, m.processor, rows).accuracy

        luq = session.run(plan, accuracy)
        everywhere = session.run(BitPlan.uniform(names, LOW), accuracy)
        session.run(None, lambda m: None)  # full precision again for the next session
        out.append({"alpha": alpha, "low_layers": [names.index(x) for x in low_names],
                    "luq_accuracy": round(luq, 4), "all_low_accuracy": round(everywhere, 4)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--n", type=int, default=200, help="test questions per accuracy")
    ap.add_argument("--labelled", type=int, default=200,
                    help="test questions per single-layer accuracy drop")
    args = ap.parse_args()

    start = time.perf_counter()
    loaded = load_model(args.model)
    calib = CalibrationConfig(64, 0.5)
    a = image_above_text(loaded, calib)
    b = entropy_vs_drop(Session(loaded), calib, args.labelled)
    c = area_claim()
    n_layers = len(b["entropy"])
    d = alpha_mix(loaded, args.n, n_layers // 2)

    print_table([{"estimator": k, "image > text": f"{v['image_above_text']}/{v['layers']}"}
                 for k, v in a.items()])
    print()
    print_table([{"layer": i, "entropy": round(e, 3), "acc_drop": round(x, 4),
                  "kl": round(k, 4)}
                 for i, (e, x, k) in enumerate(zip(b["entropy"], b["accuracy_drop"], b["kl"]))])
    print()
    print_table([{"estimator/modality": k, **v} for k, v in b["spearman"].items()])
    print()
    print("area under curve:", c if c is not None else "run benchmarks.tradeoff first")
    print()
    print_table(d)
    path = write_result("claims", {
        "model": args.model, "high": HIGH.label, "low": LOW.label, "n": args.n,
        "labelled": args.labelled, "image_above_text": a, "entropy_vs_drop": b,
        "area_under_curve": c, "alpha_mix": d,
        "seconds": round(time.perf_counter() - start, 1)})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

"""Saved benchmark results (``benchmarks/results/*.json``) shown in the Budget and About tabs.

A teaching session sees what was measured on the embedded model without waiting for it;
each view names the date and machine of the measurement. A missing or unreadable result
file gives a line saying how to produce it, never an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from components import figures
from luq.select import ORDER_LABELS

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def load(name: str, directory: Path | None = None) -> dict | None:
    """``<directory>/<name>.json`` as a dict, or None when it is missing or unreadable."""
    path = (directory or RESULTS) / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _measured_on(data: dict) -> str:
    m = data.get("machine", {})
    where = m.get("gpu") or f"{m.get('cores', '?')}-core CPU ({m.get('cpu', '?')})"
    return f"measured {m.get('date', '?')} on a {where}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def tradeoff_figure(data: dict):
    """The saved memory-vs-accuracy curves (one per order), uniform points and fp16."""
    curves = {order: [(p["memory_bytes"] / 1e6, p["accuracy"]) for p in pts]
              for order, pts in data["curves"].items()}
    fig = figures.tradeoff_curve(curves, data["uniform"], data["full"], None)
    fig.update_layout(title=f"Saved benchmark: {data['low']} into {data['high']}, "
                      f"{data['n']} test questions per point ({_measured_on(data)})")
    return fig


def tradeoff_markdown(data: dict | None) -> str:
    """Savings at <= 10 % relative loss and area under the curve, per order."""
    if data is None:
        return ("No saved trade-off curve yet: run `python -m benchmarks.tradeoff` to "
                "measure one.")
    full = data["full"]["accuracy"]
    lines = [f"**Saved trade-off curve** ({_measured_on(data)}; full precision "
             f"{_pct(full)}). Memory saved against uniform {data['high']} while staying "
             f"within {100 * data['max_relative_loss']:.0f} % of full-precision accuracy, "
             "and the area under each curve (mean accuracy over the memory range):", "",
             "| order | ultra-low blocks | memory saved (whole model) | memory saved "
             "(decoder) | area |", "|---|---|---|---|---|"]
    for row in sorted(data["summary"], key=lambda r: -r["auc"]):
        lines.append(f"| {ORDER_LABELS.get(row['order'], row['order'])} | "
                     f"{row['n_low_at_10pct'] if row['n_low_at_10pct'] is not None else '-'} | "
                     f"{_pct(row['saved_vs_4bit'])} | {_pct(row['saved_decoder_vs_4bit'])} | "
                     f"{row['auc']:.3f} |")
    return "\n".join(lines)


def claims_markdown(claims: dict | None, tradeoff: dict | None) -> str:
    """The paper's four claims as measured on the embedded model, each with a verdict."""
    if claims is None:
        return ("No saved measurement of the paper's claims yet: run "
                "`python -m benchmarks.tradeoff` and `python -m benchmarks.claims`.")
    out = ["## Does the embedded model show what the paper claims?",
           f"*{_measured_on(claims)}; ultra-low setting {claims['low']}, high setting "
           f"{claims['high']}.*", ""]
    above = claims["image_above_text"]
    km = above["kmeans"]
    verdict = "agrees" if 2 * km["image_above_text"] > km["layers"] else "does not agree"
    others = ", ".join(f"{k}: {v['image_above_text']}/{v['layers']}" for k, v in above.items()
                       if k != "kmeans")
    out.append(f"**(a) Image tokens have higher entropy than text tokens.** In "
               f"{km['image_above_text']} of {km['layers']} layers (k-means; {others}): "
               f"the model {verdict} with the paper.")
    drop = claims["entropy_vs_drop"]
    rho = drop["spearman"]["kmeans/all"]["vs_accuracy_drop"]
    rho_kl = drop["spearman"]["kmeans/all"]["vs_kl"]
    worst = max(range(len(drop["accuracy_drop"])), key=lambda i: drop["accuracy_drop"][i])
    lowest = min(range(len(drop["entropy"])), key=lambda i: drop["entropy"][i])
    verdict = ("supports" if rho > 0.3 else "contradicts" if rho < -0.3
               else "neither supports nor contradicts")
    out.append(f"**(b) Low-entropy layers tolerate ultra-low bits best.** Spearman rho between "
               f"a layer's entropy and the accuracy it loses alone at {claims['low']}: "
               f"{rho:+.2f} (against the KL damage: {rho_kl:+.2f}); the premise needs a "
               f"positive rho, so this {verdict} it. Lowest-entropy layer: {lowest}; most "
               f"damaging layer: {worst} ({_pct(drop['accuracy_drop'][worst])} lost; "
               f"{_pct(drop['base_accuracy'])} at full precision).")
    auc = claims.get("area_under_curve") or (
        {r["order"]: r["auc"] for r in tradeoff["summary"]} if tradeoff else None)
    if auc:
        ranked = sorted(auc, key=lambda k: -auc[k])
        beats = [k for k in ("random", "entropy-desc") if k in auc and auc["entropy"] > auc[k]]
        verdict = ("agrees" if len(beats) == 2 else "partly agrees" if beats
                   else "does not agree")
        out.append("**(c) Entropy-ascending selection keeps the most accuracy per byte.** "
                   "Area under the curve: " + ", ".join(
                       f"{ORDER_LABELS.get(k, k)} {auc[k]:.3f}" for k in ranked)
                   + f"; the model {verdict} with the paper.")
    mix = claims["alpha_mix"]
    text_only = next(r for r in mix if r["alpha"] == 0.0)
    best = max(mix, key=lambda r: r["luq_accuracy"])
    verdict = ("agrees" if best["alpha"] > 0 and best["luq_accuracy"] > text_only["luq_accuracy"]
               else "does not agree")
    out.append("**(d) Mixed image+text calibration beats text-only at ultra-low bits.** "
               + ", ".join(f"alpha {r['alpha']:g}: {_pct(r['luq_accuracy'])} "
                           f"(all ultra-low {_pct(r['all_low_accuracy'])})" for r in mix)
               + f" with half the blocks ultra-low; the model {verdict} with the paper.")
    return "\n\n".join(out)

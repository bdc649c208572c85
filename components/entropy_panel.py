"""Entropy tab: per-layer entropy of image vs text tokens, the LUQ order, measured sensitivity."""

from __future__ import annotations

import gradio as gr

from components import figures
from components.workbench import session_or_error
from luq.calibration import CalibrationConfig
from luq.defaults import HIGH, LOW
from luq.entropy import ESTIMATORS
from luq.profile import EntropyConfig
from luq.select import layer_order


def profile_model(model: str, alpha: float, samples: int, estimator: str, clusters: int,
                  bins: int, detail: bool, progress=gr.Progress()):
    """Profiles (or reads the cached profile) and returns the figures and the LUQ order."""
    try:
        calib = CalibrationConfig(int(samples), float(alpha))
        config = EntropyConfig(estimator, int(clusters), int(bins), linears=bool(detail))
    except (TypeError, ValueError) as err:
        raise gr.Error(str(err)) from None
    session = session_or_error(model)

    def report(done, total, message):
        progress(done / max(total, 1), desc=message)

    profile = session.profile(calib, config, progress=report).to_dict()
    layers = profile["layers"]
    order = layer_order([x["name"] for x in layers], "entropy", [x["entropy"] for x in layers])
    index = {x["name"]: x["index"] for x in layers}
    above = sum(x["entropy_image"] > x["entropy_text"] for x in layers)
    summary = (f"**LUQ order** (lowest entropy first; these go ultra-low first): "
               f"{' → '.join(str(index[n]) for n in order)}\n\n"
               f"Image-token entropy is above text-token entropy in **{above} of {len(layers)}** "
               f"layers. Profiled {profile['calibration']['samples']} prompts "
               f"(alpha {profile['calibration']['alpha']}) in {profile['seconds']:.1f} s "
               f"(cached afterwards).")
    detail_fig = figures.linear_heatmap(profile["linears"]) if profile["linears"] else None
    return (figures.entropy_heatmaps(layers), figures.entropy_lines(layers), summary,
            detail_fig, profile)


def measure_sensitivity(model: str, alpha: float, samples: int, estimator: str,
                        progress=gr.Progress()):
    """Per-layer damage at the ultra-low setting, and whether entropy predicts it."""
    session = session_or_error(model)
    try:
        calib = CalibrationConfig(int(samples), float(alpha))
    except (TypeError, ValueError) as err:
        raise gr.Error(str(err)) from None
    if estimator not in ESTIMATORS:
        raise gr.Error(f"Unknown estimator {estimator!r}; known: {', '.join(ESTIMATORS)}.")

    def report(done, total, message):
        progress(done / max(total, 1), desc=message)

    data = session.sensitivity(LOW, HIGH, calib, estimator, progress=report)
    layers = data["layers"]
    rho = data["spearman"][f"{estimator}/all"]["rho"]
    lines = ["| estimator / tokens | Spearman rho | 90 % interval |", "|---|---|---|"]
    for key, v in data["spearman"].items():
        lines.append(f"| {key} | {v['rho']:+.2f} | [{v['ci90'][0]:+.2f}, {v['ci90'][1]:+.2f}] |")
    text = ("Damage of each layer alone at " + LOW.label + " (others at "
            + HIGH.label + "), as the KL divergence of next-token distributions from "
            "the full model. The paper's hypothesis is a **positive** rho (low entropy, low "
            "damage).\n\n" + "\n".join(lines))
    return (figures.sensitivity_bars(layers), figures.entropy_vs_sensitivity(layers, rho), text)


def build_entropy_panel(model: gr.State) -> None:
    """Lays out the Entropy tab and wires it to ``model`` (the session's model name)."""
    with gr.Row():
        alpha = gr.Slider(0, 1, value=0.5, step=0.05, label="Calibration mix alpha",
                          info="share of image+question prompts; the rest are text-only")
        samples = gr.Slider(8, 256, value=64, step=8, label="Calibration samples")
        estimator = gr.Radio(list(ESTIMATORS), value="kmeans", label="Estimator",
                             info="k-means (the paper's), histogram, histogram with clipped tails")
        clusters = gr.Number(100, label="K (k-means clusters)", precision=0, minimum=2)
        bins = gr.Number(256, label="B (histogram bins)", precision=0, minimum=2)
        detail = gr.Checkbox(False, label="Per-linear detail (slower)")
    run = gr.Button("Profile", variant="primary")
    summary = gr.Markdown()
    with gr.Row():
        heat = gr.Plot(label="Entropy heatmaps")
        lines = gr.Plot(label="Entropy curves")
    detail_plot = gr.Plot(label="Per-linear entropy")
    profile_json = gr.JSON(label="Profile", visible=False)
    gr.Markdown("### Measured sensitivity beside entropy")
    sens_button = gr.Button("Measure sensitivity (one swap per layer)")
    sens_text = gr.Markdown()
    with gr.Row():
        sens_bars = gr.Plot(label="Sensitivity")
        scatter = gr.Plot(label="Entropy vs sensitivity")

    inputs = [model, alpha, samples, estimator, clusters, bins, detail]
    outputs = [heat, lines, summary, detail_plot, profile_json]
    run.click(profile_model, inputs, outputs, api_name="profile", concurrency_id="model")
    sens_button.click(measure_sensitivity, [model, alpha, samples, estimator],
                      [sens_bars, scatter, sens_text], api_name="sensitivity",
                      concurrency_id="model")
    return inputs, outputs

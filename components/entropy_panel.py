"""Entropy tab: per-layer entropy of image vs text tokens, the LUQ order, measured sensitivity."""

from __future__ import annotations

import gradio as gr

from components import figures
from components import inputs as ui
from components.guard import TIME_LIMITS_S, Deadline, finite_number, public, whole_number
from components.queues import PROBE, PROFILE
from components.workbench import session_or_error
from luq.calibration import CalibrationConfig
from luq.defaults import HIGH, LOW
from luq.entropy import ESTIMATORS
from luq.profile import EntropyConfig
from luq.select import layer_order

MAX_SAMPLES, MAX_K, MAX_BINS = 256, 1000, 4096  # what one request may ask for


def _calibration(alpha, samples) -> CalibrationConfig:
    samples = whole_number(samples, "Calibration samples", 1, MAX_SAMPLES)
    alpha = finite_number(alpha, "Alpha", 0, 1)
    try:
        return CalibrationConfig(samples, alpha)
    except (TypeError, ValueError) as err:
        raise gr.Error(str(err)) from None


def _estimator(estimator) -> str:
    if estimator not in ESTIMATORS:
        raise gr.Error(f"Unknown estimator {estimator!r}; known: {', '.join(ESTIMATORS)}.")
    return estimator


@public("Profiling")
def profile_model(model: str, alpha: float, samples: int, estimator: str, clusters: int,
                  bins: int, detail: bool, progress=gr.Progress()):
    """Profiles (or reads the cached profile) and returns the figures and the LUQ order."""
    calib = _calibration(alpha, samples)
    clusters, bins = whole_number(clusters, "K", 2, MAX_K), whole_number(bins, "B", 2, MAX_BINS)
    estimator = _estimator(estimator)
    try:
        config = EntropyConfig(estimator, clusters, bins, linears=bool(detail))
    except (TypeError, ValueError) as err:
        raise gr.Error(str(err)) from None
    session = session_or_error(model)
    deadline = Deadline("Profiling", TIME_LIMITS_S["profile"], progress)
    profile = session.profile(calib, config, progress=deadline).to_dict()
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


@public("Measuring sensitivity")
def measure_sensitivity(model: str, alpha: float, samples: int, estimator: str,
                        progress=gr.Progress()):
    """Per-layer damage at the ultra-low setting, and whether entropy predicts it."""
    calib = _calibration(alpha, samples)
    estimator = _estimator(estimator)
    session = session_or_error(model)
    deadline = Deadline("Measuring sensitivity", TIME_LIMITS_S["sensitivity"], progress)
    data = session.sensitivity(LOW, HIGH, calib, estimator, progress=deadline)
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
        alpha = ui.Slider(0, 1, value=0.5, step=0.05, label="Calibration mix alpha",
                          info="share of image+question prompts; the rest are text-only")
        samples = ui.Slider(8, 256, value=64, step=8, label="Calibration samples")
        estimator = ui.Radio(list(ESTIMATORS), value="kmeans", label="Estimator",
                             info="k-means (the paper's), histogram, histogram with clipped tails")
        clusters = ui.Number(100, label="K (k-means clusters)", precision=0, minimum=2)
        bins = ui.Number(256, label="B (histogram bins)", precision=0, minimum=2)
        detail = ui.Checkbox(False, label="Per-linear detail (slower)")
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
    run.click(profile_model, inputs, outputs, api_name="profile", **PROFILE)
    sens_button.click(measure_sensitivity, [model, alpha, samples, estimator],
                      [sens_bars, scatter, sens_text], api_name="sensitivity", **PROBE)
    return inputs, outputs

"""Pure plotly figure builders: plain data in, a ``go.Figure`` out."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from luq.select import ORDER_LABELS

IMAGE_COLOR, TEXT_COLOR, ALL_COLOR = "#d62728", "#1f77b4", "#7f7f7f"
ORDER_COLORS = {"entropy": "#2ca02c", "entropy-desc": "#d62728", "random": "#9467bd",
                "depth": "#8c564b", "sensitivity": "#ff7f0e"}


_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHED_FIGURES = 256  # a slider has few distinct plans per setting (one per ultra-low count)


def cached(builder, *args):
    """``builder(*args)``, built once per distinct JSON-equal arguments (least recently used
    dropped past :data:`CACHED_FIGURES`): plotly's validation makes a figure cost tens of ms,
    most of a warm slider move. The figure is shared: callers must not modify it."""
    key = (builder.__name__, json.dumps(args, sort_keys=True, default=str))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    figure = builder(*args)
    with _CACHE_LOCK:
        _CACHE[key] = figure
        while len(_CACHE) > CACHED_FIGURES:
            _CACHE.popitem(last=False)
    return figure


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1] if name.rsplit(".", 1)[-1].isdigit() else name


def entropy_heatmaps(layers: list[dict]) -> go.Figure:
    """Image-token and text-token entropy per decoder layer, side by side (rows = layers)."""
    rows = [f"layer {x['index']}" for x in layers]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("image tokens", "text tokens"),
                        horizontal_spacing=0.12)
    values = [[x["entropy_image"]] for x in layers], [[x["entropy_text"]] for x in layers]
    zmin = min(min(v[0] for v in vs) for vs in values)
    zmax = max(max(v[0] for v in vs) for vs in values)
    for col, vals in enumerate(values, start=1):
        fig.add_trace(go.Heatmap(z=vals, y=rows, x=["entropy (bits)"], zmin=zmin, zmax=zmax,
                                 colorscale="Viridis", showscale=col == 2,
                                 text=[[f"{v[0]:.2f}"] for v in vals], texttemplate="%{text}",
                                 hovertemplate="%{y}: %{z:.3f} bits<extra></extra>"),
                      row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Per-layer activation entropy", height=120 + 28 * len(rows),
                      margin=dict(l=70, r=20, t=70, b=30))
    return fig


def linear_heatmap(linears: list[dict], modality: str = "image") -> go.Figure:
    """Detail view: entropy of each linear module (columns) of each layer (rows)."""
    key = {"image": "entropy_image", "text": "entropy_text"}[modality]
    layers, modules = [], []
    for x in linears:
        block, _, module = x["name"].partition(".layers.")[2].partition(".")
        if block not in layers:
            layers.append(block)
        if module not in modules:
            modules.append(module)
    grid = [[None] * len(modules) for _ in layers]
    for x in linears:
        block, _, module = x["name"].partition(".layers.")[2].partition(".")
        grid[layers.index(block)][modules.index(module)] = x[key]
    fig = go.Figure(go.Heatmap(z=grid, x=[m.split(".")[-1] for m in modules],
                               y=[f"layer {b}" for b in layers], colorscale="Viridis",
                               hovertemplate="%{y} %{x}: %{z:.3f} bits<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=f"Entropy of each linear's output ({modality} tokens)",
                      height=120 + 26 * len(layers), margin=dict(l=70, r=20, t=50, b=40))
    return fig


def entropy_lines(layers: list[dict]) -> go.Figure:
    """The image, text and all-token entropy curves over depth."""
    x = [layer["index"] for layer in layers]
    fig = go.Figure()
    for key, label, color in (("entropy_image", "image tokens", IMAGE_COLOR),
                              ("entropy_text", "text tokens", TEXT_COLOR),
                              ("entropy", "all tokens", ALL_COLOR)):
        fig.add_trace(go.Scatter(x=x, y=[layer[key] for layer in layers], name=label,
                                 mode="lines+markers", line=dict(color=color)))
    fig.update_layout(title="Entropy by depth", xaxis_title="decoder layer",
                      yaxis_title="entropy (bits)", height=340,
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def sensitivity_bars(layers: list[dict]) -> go.Figure:
    """Measured damage (KL) of each layer sent alone to the ultra-low setting."""
    fig = go.Figure(go.Bar(x=[layer["index"] for layer in layers],
                           y=[layer["sensitivity_kl"] for layer in layers],
                           marker_color=ORDER_COLORS["sensitivity"]))
    fig.update_layout(title="Measured sensitivity: KL when the layer alone goes ultra-low",
                      xaxis_title="decoder layer", yaxis_title="KL (nats)", height=320,
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def entropy_vs_sensitivity(layers: list[dict], rho: float, key: str = "entropy") -> go.Figure:
    """Scatter of a layer's entropy against its measured damage, with Spearman rho."""
    fig = go.Figure(go.Scatter(x=[layer[key] for layer in layers],
                               y=[layer["sensitivity_kl"] for layer in layers],
                               mode="markers+text", text=[str(x["index"]) for x in layers],
                               textposition="top center"))
    fig.update_layout(title=f"Does entropy predict damage? Spearman rho = {rho:+.2f}",
                      xaxis_title=f"{key.replace('_', ' ')} (bits)",
                      yaxis_title="KL when alone ultra-low", height=340,
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig


def bit_bars(plan: dict) -> go.Figure:
    """Effective bits per decoder layer under a plan, coloured by setting."""
    layers = plan["layers"]
    labels = [x.get("type") or f"{x['method']}-{x['bits']}b" for x in layers]  # ggml: its type
    palette = {}
    colors = [palette.setdefault(lab, ["#2ca02c", "#d62728", "#1f77b4", "#ff7f0e"][
        len(palette) % 4]) for lab in labels]
    fig = go.Figure(go.Bar(x=list(range(len(layers))), y=[x["bits"] for x in layers],
                           marker_color=colors, text=labels, textposition="inside",
                           hovertext=[x["name"] for x in layers]))
    fig.update_layout(title="Bit width per decoder layer", xaxis_title="decoder layer",
                      yaxis_title="nominal bits", height=300, margin=dict(l=60, r=20, t=50, b=40))
    return fig


def memory_breakdown(breakdown: dict[str, int]) -> go.Figure:
    """A horizontal stacked bar of where the bytes go."""
    fig = go.Figure()
    for part, nbytes in breakdown.items():
        if nbytes:
            fig.add_trace(go.Bar(y=["memory"], x=[nbytes / 1e6], name=part, orientation="h",
                                 hovertemplate=f"{part}: %{{x:.3f}} MB<extra></extra>"))
    fig.update_layout(barmode="stack", title="Memory breakdown (MB)", height=220,
                      margin=dict(l=70, r=20, t=50, b=30), legend=dict(orientation="h"))
    return fig


def tradeoff_curve(curves: dict[str, list[tuple[float, float]]],
                   uniform: list[dict], full: dict | None,
                   current: tuple[float, float] | None,
                   saved: dict[str, list[tuple[float, float]]] | None = None,
                   metric: str = "accuracy") -> go.Figure:
    """Memory (MB) vs the metric: one line per order (``saved`` ones dashed), uniform
    points, full precision and the current plan as a star."""
    fig = go.Figure()
    for order, pts in (saved or {}).items():
        pts = sorted(pts)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts],
                                 mode="lines", name=f"{ORDER_LABELS.get(order, order)} (saved)",
                                 line=dict(color=ORDER_COLORS.get(order), dash="dash"),
                                 opacity=0.6))
    for order, pts in curves.items():
        pts = sorted(pts)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts],
                                 mode="lines+markers", name=ORDER_LABELS.get(order, order),
                                 line=dict(color=ORDER_COLORS.get(order))))
    if uniform:
        fig.add_trace(go.Scatter(x=[u["memory_bytes"] / 1e6 for u in uniform],
                                 y=[u["accuracy"] for u in uniform], mode="markers+text",
                                 text=[u["spec"] for u in uniform], textposition="bottom right",
                                 name="uniform", marker=dict(symbol="square", size=9,
                                                             color="black")))
    if full:
        fig.add_trace(go.Scatter(x=[full["memory_bytes"] / 1e6], y=[full["accuracy"]],
                                 mode="markers+text", text=["fp16"], name="full precision",
                                 textposition="bottom left",
                                 marker=dict(symbol="diamond", size=10, color="gray")))
    if current:
        fig.add_trace(go.Scatter(x=[current[0]], y=[current[1]], mode="markers",
                                 name="this plan",
                                 marker=dict(symbol="star", size=18, color="gold",
                                             line=dict(color="black", width=1))))
    unit = metric in ("accuracy", "f1", "anls", "relaxed accuracy")
    fig.update_layout(title=f"Memory vs {metric}", xaxis_title="weight memory (MB)",
                      yaxis_title=metric, yaxis_range=[0, 1.02] if unit else None, height=420,
                      margin=dict(l=60, r=20, t=50, b=40))
    return fig

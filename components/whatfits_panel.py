"""What fits: any model's config and a budget in GB -> sizes, blocks sent ultra-low, cost.

The numbers are ``luq.estimate.what_fits``, the same function behind
``python -m luq memory --model M --budget-mb X``: only the model's config is read, on the
meta device, so a 7B model costs nothing to estimate.
"""

from __future__ import annotations

import json

import gradio as gr

from components import inputs as ui
from components.guard import public, short_text, uploaded_path
from components.queues import WHAT_FITS
from components.settings import (
    DEFAULT_HIGH,
    DEFAULT_LOW,
    HIGH_CHOICES,
    LOW_CHOICES,
    TOWER_CHOICES,
    parse_spec,
)
from luq.estimate import what_fits
from luq.hub import HUB_ID
from luq.memory import model_layout
from luq.models.loading import (
    ModelLoadError,
    build_meta_model,
    config_from_file,
    hub_config_file,
)
from luq.models.registry import model_names
from luq.tasks.roots import looks_like_path
from luq.tower import TOWER_TYPES, tower_spec

SHIPPED = model_names("hub")
EMBED_CHOICES = [("fp16, or 4-bit only if the budget needs it", "auto"),
                 ("fp16 always", "0"), ("4-bit RTN", "4")]
GB = 1e9


def _layout(source: str, shipped: str, hub_id: str, upload):
    if source == "upload":
        if not upload:
            raise gr.Error("Upload a config.json first.")
        path = uploaded_path(upload)
        if path is None:
            raise gr.Error("Upload the config.json file itself.")
        return model_layout(build_meta_model(config_from_file(path))), "uploaded config.json"
    if source == "shipped":
        if shipped not in SHIPPED:
            raise gr.Error(f"Unknown shipped config {shipped!r}; known: {', '.join(SHIPPED)}.")
        return model_layout(build_meta_model(shipped)), shipped
    name = short_text(hub_id, "The hub id")
    if not name:
        raise gr.Error("Type a hub id (e.g. llava-hf/llava-1.5-7b-hf).")
    if not HUB_ID.match(name) or looks_like_path(name):
        raise gr.Error(f"{name!r} is not a hub id (organisation/name).")
    if name in SHIPPED:  # its config ships with the app: no network needed
        return model_layout(build_meta_model(name)), name
    # the config file from the hub (or its cache), never a server folder of the same name
    return model_layout(build_meta_model(config_from_file(hub_config_file(name)))), name


def _markdown(r: dict) -> str:
    kept = ", ".join(f"{k} {v / GB:.2f} GB" for k, v in r["fp16_parts"].items()
                     if v >= GB / 200)
    sizes = " · ".join(f"{k} **{v / GB:.2f} GB**" for k, v in r["sizes"].items())
    lines = [f"### {r['model']}: {r['layers']} decoder blocks", f"Uniform sizes: {sizes}", ""]
    if not r["fits"]:
        lines.append(f"**Does not fit.** {r['note']}")
        return "\n".join(lines)
    lines += [f"**{r['n_low']} of {r['layers']} blocks** must go ultra-low ({r['low']}), the "
              f"rest {r['high']}: **{r['total_bytes'] / GB:.2f} GB**, "
              f"**{r['avg_bits']:.2f} average bits** per decoder weight.",
              f"Embeddings and lm_head: {r['embeddings_and_lm_head']}.",
              f"Kept in 16 bits: {kept}.",
              ("Which blocks: " + ", ".join(n.rsplit(".", 1)[-1] for n in r["which_layers"])
               if r["which_layers"] else f"Which blocks: {r['note']}")]
    paper = r["paper"]
    if paper:
        ours = paper["ours"]
        lines += ["", f"**The paper's measured point for {paper['model']}**: {paper['n_low']} of "
                  f"{paper['layers']} blocks ultra-low at {paper['avg_bits']} bits; MME "
                  f"perception fp16 {paper['mme_perception']['fp16']}, AWQ 4-bit "
                  f"{paper['mme_perception']['awq-4bit']}, LUQ {paper['mme_perception']['luq']}.",
                  f"Our estimate of the same plan: {ours['luq']['avg_bits']} bits, "
                  f"{ours['luq']['total_bytes'] / GB:.2f} GB (language model alone "
                  f"{ours['luq']['llm_bytes'] / 2**30:.2f} GiB); uniform "
                  f"{ours['uniform']['total_bytes'] / GB:.2f} GB; fp16 "
                  f"{ours['fp16']['total_bytes'] / GB:.2f} GB."]
        if paper["llama_cpp_gb"]:
            g = paper["llama_cpp_gb"]
            lines.append(f"The paper in llama.cpp (language model only): fp16 {g['fp16']} GB, "
                         f"Q4_K_M {g['q4_k_m']} GB, LUQ {g['luq']} GB.")
    return "\n".join(lines)


@public("What fits")
def estimate(source: str, shipped: str, hub_id: str, upload, budget_gb: float,
             low_choice: str, high_choice: str, embed: str, tower: str = "F16"):
    """What fits in ``budget_gb``: a summary and the full JSON."""
    try:
        budget = float(budget_gb)
    except (TypeError, ValueError):
        raise gr.Error("The budget must be a number of GB.") from None
    if not 0 < budget < 10_000:
        raise gr.Error("The budget must be a positive number of GB.")
    if source not in ("shipped", "hub", "upload"):
        raise gr.Error(f"Unknown source {source!r}.")
    if embed not in ("auto", "0", "4"):
        raise gr.Error(f"Unknown embeddings setting {embed!r}.")
    if tower not in TOWER_TYPES:
        raise gr.Error(f"Unknown vision tower type {tower!r}; known: {', '.join(TOWER_TYPES)}.")
    try:
        layout, name = _layout(source, shipped, hub_id, upload)
    except gr.Error:
        raise
    except (ModelLoadError, ValueError) as err:
        raise gr.Error(str(err)) from None
    result = what_fits(layout, int(budget * GB), parse_spec(high_choice), parse_spec(low_choice),
                       None if embed == "auto" else int(embed), model=name,
                       tower=tower_spec(tower))
    json.dumps(result, allow_nan=False)  # what the JSON card can show, checked here
    return _markdown(result), result


def build_whatfits_panel() -> None:
    """Lays out the What-fits tab."""
    gr.Markdown("Does a model fit in a memory budget, and at what cost? Only its config is "
                "read (no weights). The same numbers as `python -m luq memory --model M "
                "--budget-mb X`.")
    with gr.Row():
        source = ui.Radio([("A shipped config", "shipped"), ("A hub id (needs network)", "hub"),
                           ("An uploaded config.json", "upload")], value="shipped",
                          label="Model")
        shipped = ui.Dropdown(SHIPPED, value=SHIPPED[0], label="Shipped config")
        hub_id = gr.Textbox(label="Hub id", placeholder="llava-hf/llava-1.5-7b-hf")
        upload = gr.File(label="config.json", file_types=[".json"], type="filepath")
    with gr.Row():
        budget = ui.Number(3.5, label="Memory budget (GB of weights)", minimum=0)
        low = ui.Dropdown(LOW_CHOICES, value=DEFAULT_LOW, label="Ultra-low setting")
        high = ui.Dropdown(HIGH_CHOICES, value=DEFAULT_HIGH, label="High setting")
        embed = ui.Dropdown(EMBED_CHOICES, value="auto", label="Embeddings and lm_head")
        tower = ui.Dropdown(TOWER_CHOICES, value="F16", label="Vision tower and projector")
    go = gr.Button("What fits?", variant="primary")
    summary = gr.Markdown()
    details = gr.JSON(label="Details")
    go.click(estimate, [source, shipped, hub_id, upload, budget, low, high, embed, tower],
             [summary, details], api_name="what_fits", **WHAT_FITS)

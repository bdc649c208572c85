"""The model picker above the tabs."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from components import inputs as ui
from components.guard import public, short_text
from components.queues import LOADING
from components.workbench import MODELS
from luq.models.loading import ModelLoadError
from luq.models.registry import EMBEDDED_NAME, REGISTRY, model_names
from luq.tasks.roots import DATA_DIRS_ENV, is_allowed, looks_like_path

EMBEDDED_HELP = (
    "**Embedded model**: a tiny LLaVA (SigLIP-style tower + Llama decoder, 12 layers) trained "
    "by this project on pictures of 1-3 coloured shapes, drawn on light, grey or dark "
    "backgrounds, filled or outlined (resized to 64x64). It answers one word about **colour** "
    "(red, green, blue, yellow, purple, orange), **shape** (circle, square, triangle, cross), "
    "**count** (one, two, three), **position** (left, middle, right) and **size** (small, "
    "large) - nothing else.")


def describe(name: str) -> str:
    entry = REGISTRY.get(name)
    text = EMBEDDED_HELP if name == EMBEDDED_NAME else (entry.description if entry else name)
    return text


@public("Loading the model")
def switch_model(name: str, current: str) -> tuple[str, str, str]:
    """Loads ``name``; on failure keeps ``current`` and says why (the app stays usable)."""
    name = short_text(name, "The model")
    if not name:
        raise gr.Error("Choose a model.")
    if name not in REGISTRY and (looks_like_path(name) or Path(name).exists()) \
            and not is_allowed(name):
        raise gr.Error(f"Could not load {name}: local models are read only from the allowed "
                       f"data folders (data/, {DATA_DIRS_ENV}); pick a listed model or type a "
                       f"hub id. The app stays on {current}.")
    try:
        MODELS.get(name)
    except (ModelLoadError, ValueError) as err:
        raise gr.Error(f"Could not load {name}: {err} The app stays on {current}.") from None
    return name, name, describe(name)


def build_model_picker():
    """The picker, the session's current model name, and the event that switches models
    (chain ``.success`` on it to refresh what depends on the model)."""
    with gr.Row():
        picker = ui.Dropdown(model_names(), value=EMBEDDED_NAME, label="Model",
                             allow_custom_value=True, scale=2,
                             info="Hub checkpoints need network the first time.")
        info = gr.Markdown(describe(EMBEDDED_NAME))
    current = gr.State(EMBEDDED_NAME)
    switched = picker.input(switch_model, [picker, current], [picker, current, info],
                            api_name="load_model", **LOADING)
    return picker, current, switched

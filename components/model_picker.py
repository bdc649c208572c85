"""The model picker above the tabs."""

from __future__ import annotations

import copy
from pathlib import Path

import gradio as gr

from components import inputs as ui
from components.guard import public, short_text
from components.queues import LOADING
from components.workbench import MODELS
from luq.models.detail import IMAGE_DETAILS, default_detail, image_tokens, set_image_detail
from luq.models.loading import ModelLoadError, default_device
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


DETAILS = [("one tile (the CPU default)", "one-tile"), ("the model's own processor", "model")]


def detail_line(session) -> str:
    """What a picture costs at each image detail, measured through the model's processor."""
    loaded = session.loaded
    if loaded.processor is None or getattr(loaded.processor, "image_processor", None) is None:
        return ""
    processor = copy.deepcopy(loaded.processor)  # the shared one stays as it is
    token = loaded.adapter.image_token_id(loaded.model)
    now = session.image_detail
    costs = {}
    for detail in IMAGE_DETAILS:
        set_image_detail(processor, detail)
        costs[detail] = image_tokens(processor, token)
    return (f"**Image detail: {now}.** A 64-pixel picture costs {costs['one-tile']} image "
            f"tokens at one tile and {costs['model']} with the model's own processor; every "
            "image token runs through every decoder block, so an answer's time grows with it.")


@public("Changing the image detail")
def switch_detail(detail: str, current: str) -> str:
    """Puts the current model's pictures at ``detail``; what was measured is recomputed."""
    if detail not in IMAGE_DETAILS:
        raise gr.Error(f"Image detail is one of {', '.join(IMAGE_DETAILS)}.")
    current = short_text(current, "The model")
    if current not in MODELS.names() and current != EMBEDDED_NAME:
        raise gr.Error("Load a model first; the image detail applies to the loaded one.")
    session = MODELS.get(current)
    session.set_image_detail(detail)
    return describe(current) + "\n\n" + detail_line(session)


@public("Loading the model")
def switch_model(name: str, current: str) -> tuple[str, str, str, str]:
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
        session = MODELS.get(name)
    except (ModelLoadError, ValueError) as err:
        raise gr.Error(f"Could not load {name}: {err} The app stays on {current}.") from None
    return name, name, describe(name) + "\n\n" + detail_line(session), session.image_detail


def build_model_picker():
    """The picker, the session's current model name, and the event that switches models
    (chain ``.success`` on it to refresh what depends on the model)."""
    with gr.Row():
        picker = ui.Dropdown(model_names(), value=EMBEDDED_NAME, label="Model",
                             allow_custom_value=True, scale=2,
                             info="Hub checkpoints need network the first time.")
        detail = ui.Radio(DETAILS, value=default_detail(default_device()),
                          label="Image detail", scale=1,
                          info="image tokens per picture: one tile, or as the model's own "
                               "processor splits it")
    info = gr.Markdown(describe(EMBEDDED_NAME))
    current = gr.State(EMBEDDED_NAME)
    switched = picker.input(switch_model, [picker, current], [picker, current, info, detail],
                            api_name="load_model", **LOADING)
    detail.input(switch_detail, [detail, current], [info], api_name="image_detail", **LOADING)
    return picker, current, switched

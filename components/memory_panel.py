"""Memory panel: what a model weighs under a uniform quantization setting."""

from __future__ import annotations

import gradio as gr

from luq.memory import model_layout, plan_memory
from luq.models.loading import ModelLoadError, build_meta_model
from luq.models.registry import model_names
from luq.plan import BitPlan
from luq.quant import QuantSpec
from luq.quant.registry import method_names


def memory_of(model: str, method: str, bits: int, group_size: int) -> dict:
    """Memory report of ``model`` with every decoder block stored as one setting."""
    try:
        spec = QuantSpec(method, int(bits), int(group_size))
        layout = model_layout(build_meta_model(model))
    except (ValueError, ModelLoadError) as err:
        raise gr.Error(str(err)) from None
    report = plan_memory(layout, BitPlan.uniform(layout.block_names, spec))
    return {"model": model, "setting": spec.label, **report.to_dict()}


def build_memory_panel() -> None:
    """Lays out the panel and wires it."""
    with gr.Row():
        model = gr.Dropdown(model_names(), value="tiny-random-llava", label="Model",
                            allow_custom_value=True)
        method = gr.Dropdown(method_names(), value="rtn", label="Method")
        bits = gr.Slider(1, 16, value=4, step=1, label="Bits")
        group = gr.Dropdown([0, 32, 64, 128], value=64, label="Group size (0 = per-channel)")
    out = gr.JSON(label="Weight memory")
    gr.Button("Compute").click(memory_of, [model, method, bits, group], out, api_name="memory")

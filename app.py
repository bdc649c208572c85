"""LUQ Explorer: `python app.py` serves the app (GRADIO_SERVER_NAME / _PORT respected)."""

import gradio as gr

from components.about_panel import build_about_panel
from components.arena_panel import build_arena_panel
from components.budget_panel import budget_limits, build_budget_panel, make_plan
from components.entropy_panel import build_entropy_panel, profile_model
from components.model_picker import build_model_picker

CONCURRENCY = 2  # requests that run models share one CPU-bound model: keep it small


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="LUQ Explorer") as demo:
        gr.Markdown("# LUQ Explorer\nHow far can a vision-language model go below 4 bits? "
                    "Layerwise ultra-low-bit quantization (LUQ), measured on the model in "
                    "front of you.")
        _, model = build_model_picker()
        with gr.Tab("Entropy"):
            entropy_inputs, entropy_outputs = build_entropy_panel(model)
        with gr.Tab("Budget"):
            budget, low, high, order, plan_inputs, plan_outputs = build_budget_panel(model)
        with gr.Tab("VQA arena"):
            build_arena_panel(model, budget, low, high, order)
        with gr.Tab("About"):
            build_about_panel()
        demo.load(profile_model, entropy_inputs, entropy_outputs, concurrency_id="model")
        demo.load(budget_limits, [model, low, high], budget).then(
            make_plan, plan_inputs, plan_outputs, concurrency_id="model")
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=CONCURRENCY).launch(show_error=True)

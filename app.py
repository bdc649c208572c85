"""LUQ Explorer: `python app.py` serves the app (GRADIO_SERVER_NAME / _PORT respected)."""

import os

# Hub look-ups fail fast rather than wait on a slow network (huggingface_hub reads these
# once, on import).
os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
# Concurrent requests share few cores: OpenMP threads that spin while waiting stall each
# other (measured: three answers 3.3 s -> 0.1 s under load). Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr  # noqa: E402

from components.about_panel import build_about_panel
from components.arena_panel import build_arena_panel
from components.budget_panel import budget_limits, build_budget_panel, make_plan
from components.entropy_panel import build_entropy_panel, profile_model
from components.model_picker import build_model_picker
from components.queues import INTERACTIVE, PROFILE
from components.whatfits_panel import build_whatfits_panel
from luq.memlimit import resolve_limit
from luq.models.loading import default_device

CONCURRENCY = 2  # requests that run models share one CPU-bound model: keep it small
MAX_FILE_SIZE = "10mb"  # uploads: images and config.json files are far smaller


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="LUQ Explorer") as demo:
        gr.Markdown("# LUQ Explorer\nHow far can a vision-language model go below 4 bits? "
                    "Layerwise ultra-low-bit quantization (LUQ), measured on the model in "
                    "front of you.")
        _, model, switched = build_model_picker()
        with gr.Tab("Entropy"):
            entropy_inputs, entropy_outputs = build_entropy_panel(model)
        with gr.Tab("Budget"):
            budget, low, high, order, tower, plan_inputs, plan_outputs = \
                build_budget_panel(model)
        with gr.Tab("VQA arena"):
            build_arena_panel(model, budget, low, high, order)
        with gr.Tab("What fits"):
            build_whatfits_panel()
        with gr.Tab("About"):
            build_about_panel()
        # on load and after a model switch: the slider range, the plan and the profile
        private = {"api_visibility": "private"}
        for start, name in ((demo.load, None), (switched.success, "budget_range")):
            # public after a switch: an API client sets the new model's slider range as the
            # page does (the server checks each budget against the range this sets)
            limits = start(budget_limits, [model, low, high, tower], budget,
                           **({"api_name": name} if name else private))
            limits.success(make_plan, plan_inputs, plan_outputs, **INTERACTIVE, **private)
            start(profile_model, entropy_inputs, entropy_outputs, **PROFILE, **private)
    return demo


demo = build_demo()

if __name__ == "__main__":
    resolve_limit(default_device()).activate()  # LUQ_MEMORY_GB, else free memory less 10 %
    demo.queue(default_concurrency_limit=CONCURRENCY).launch(show_error=False,
                                                             max_file_size=MAX_FILE_SIZE)

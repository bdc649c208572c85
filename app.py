"""LUQ Explorer: `python app.py` serves the app (GRADIO_SERVER_NAME / _PORT respected)."""

import gradio as gr

from components.memory_panel import build_memory_panel


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="LUQ Explorer") as demo:
        gr.Markdown("# LUQ Explorer\nLayerwise ultra-low-bit quantization for multimodal LLMs.")
        build_memory_panel()
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=2).launch()

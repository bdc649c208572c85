"""LUQ: layerwise ultra-low-bit quantization for multimodal LLMs.

The library behind LUQ Explorer. It never imports gradio or plotly: the UI in
``components/`` depends on it, never the reverse.
"""

__version__ = "0.1.0"

"""Gradio UI of LUQ Explorer: one file per panel; the only package that imports gradio."""

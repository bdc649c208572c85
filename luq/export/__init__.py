"""Exports of a plan: deployment rules for other tools and a reloadable folder."""

from luq.export.folder import load_quantized, save_quantized
from luq.export.rules import gptqmodel_config, llama_cpp_overrides

__all__ = ["gptqmodel_config", "llama_cpp_overrides", "load_quantized", "save_quantized"]

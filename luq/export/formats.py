"""Every export of a plan by name: what ``python -m luq export`` and the Budget tab write.

Plan-only formats need nothing but the plan (``json``, ``gptqmodel``, ``llamacpp``);
model formats write the quantized model itself (``folder``: a reloadable
``save_pretrained`` folder).
"""

from __future__ import annotations

import json
from pathlib import Path

from luq.export.rules import gptqmodel_config, llama_cpp_overrides
from luq.plan import BitPlan

PLAN_FORMATS = {
    "json": ("plan.json", "the plan itself (BitPlan JSON)"),
    "gptqmodel": ("gptqmodel-config.json",
                  "GPTQModel QuantizeConfig with per-block `dynamic` rules"),
    "llamacpp": ("llama-quantize.json",
                 "llama-quantize base type, --tensor-type overrides and command line"),
}
MODEL_FORMATS = {
    "folder": ("", "a save_pretrained folder of the quantized model (packed codes), "
               "reloadable with luq.export.load_quantized"),
    "gguf": ("", "a llama.cpp GGUF whose decoder blocks take the plan's types (ggml's own "
             "quantizers, importance matrix from our calibration), an mmproj where the "
             "converter takes the vision tower, and a README with the run lines"),
}
FORMATS = {**PLAN_FORMATS, **MODEL_FORMATS}


def check_format(fmt: str) -> str:
    """``fmt`` if known, else a ValueError listing the known formats."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    return fmt


def plan_document(plan: BitPlan, fmt: str) -> dict:
    """The JSON document of a plan-only format."""
    if check_format(fmt) == "json":
        return plan.to_dict()
    if fmt == "gptqmodel":
        return gptqmodel_config(plan)
    if fmt == "llamacpp":
        return llama_cpp_overrides(plan)
    raise ValueError(f"{fmt} exports the model, not only the plan: give a loaded model")


def export_plan(plan: BitPlan, fmt: str, out: str | Path) -> Path:
    """Writes a plan-only format to the file ``out`` (its parent is created)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plan_document(plan, fmt), indent=2))
    return out

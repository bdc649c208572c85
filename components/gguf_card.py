"""The Budget tab's GGUF card: the plan's llama.cpp files, built on demand, and their size."""

from __future__ import annotations

import gradio as gr

from components.downloads import gguf_download
from components.guard import TIME_LIMITS_S, Deadline, public
from components.workbench import gguf_store, session_or_error
from luq.engines.convert import ConversionError
from luq.engines.llamacpp import LlamaCppError
from luq.export.gguf import GGUFExportError
from luq.plan import BitPlan
from luq.session import Session


def gguf_line(session: Session, plan: BitPlan, accounted: int) -> str:
    """The plan's GGUF files beside the accounted bytes, once the plan has been exported."""
    export = gguf_store(session).ready(plan)
    if export is None:
        return " The GGUF button below builds this plan's llama.cpp files and shows their size."
    files = export.model_bytes + export.mmproj_bytes
    return (f" As GGUF: **{files / 1e6:.3f} MB** ({export.model_bytes / 1e6:.3f} MB model + "
            f"{export.mmproj_bytes / 1e6:.3f} MB mmproj; accounted {accounted / 1e6:.3f} MB).")


GGUF_NOTE = (
    "\n\nA llama.cpp setting is the GGUF's own type: ggml quantized the explorer's variant with "
    "the same importance matrix, so the file holds the bytes the accuracy was measured on "
    "(llama.cpp still quantizes activations to 8 bits in its matrix products). Embeddings and "
    "the output head follow llama.cpp's Q4_K_M rules. The research quantizers map to the "
    "types above: BiLLM-style binarization has no exact GGUF type and IQ1_M stands in for it, "
    "so such a GGUF answers differently from the PyTorch model (`python -m luq eval --engine "
    "llamacpp` measures both).")


@public("The GGUF export")
def make_gguf(model: str, plan_dict: dict | None, progress=gr.Progress()) -> str:
    """The current plan as a GGUF zip (exported the first time for this plan)."""
    if not isinstance(plan_dict, dict) or "layers" not in plan_dict:
        raise gr.Error("Choose a plan first: move the budget slider.")
    session = session_or_error(model)
    try:
        plan = BitPlan.from_dict({k: v for k, v in plan_dict.items()
                                  if k not in ("accuracy", "n_low")})
        plan.check_layers(session.block_names)  # a plan made for another model
        deadline = Deadline("The GGUF export", TIME_LIMITS_S["export"], progress)
        return gguf_download(gguf_store(session), plan, deadline)
    except (ConversionError, GGUFExportError, LlamaCppError, ValueError, KeyError) as err:
        raise gr.Error(f"Could not export {session.name} as GGUF: {err}") from None

"""A reloadable ``save_pretrained`` folder of a LUQ-quantized model (packed codes as buffers).

:func:`save_quantized` writes the model with its plan applied; :func:`load_quantized` reads it
back to the same modules, buffers and answers.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn
from transformers import AutoConfig, AutoModelForImageTextToText
from transformers.initialization import no_init_weights

from luq.models.adapters import adapter_for
from luq.models.detail import own_settings
from luq.models.loading import LoadedModel
from luq.models.prompting import load_processor
from luq.plan import BitPlan
from luq.quant.linear import QuantLinear, replace_linears
from luq.quant.spec import FULL_PRECISION, QuantizedWeight, QuantSpec

PLAN_FILE = "plan.json"
WEIGHTS_FILE = "model.safetensors"


def save_quantized(model: nn.Module, plan: BitPlan, out_dir: str | Path,
                   processor=None) -> Path:
    """Writes the LUQ-quantized ``model`` (``plan`` applied) as a ``save_pretrained`` folder.

    ``config.json`` and ``generation_config.json`` as ``save_pretrained`` writes them; the
    weights in ``model.safetensors`` under the module names of this transformers version
    (quantized linears as their packed buffers, ``...q_proj.q_codes`` etc.; shared tensors
    once); ``plan.json`` says how each block is stored; the processor, when given, beside.

    Raises:
        ValueError: ``plan`` is not the plan applied to ``model``.
    """
    adapter = adapter_for(model)
    plan.check_layers(adapter.block_names(model))
    for a in plan.layers:
        for sub, module in model.get_submodule(a.name).named_modules():
            applied = module.spec if isinstance(module, QuantLinear) else (
                FULL_PRECISION if isinstance(module, nn.Linear) else None)
            if applied is not None and applied.label != a.spec.label:
                raise ValueError(f"{a.name}.{sub} is stored as {applied.label}, the plan says "
                                 f"{a.spec.label}: apply the plan first")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
    save_model(model, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    plan.save(out / PLAN_FILE)
    if processor is not None:
        with own_settings(processor):  # the model's own, not a cap
            processor.save_pretrained(out)
    return out


def load_quantized(folder: str | Path, device: torch.device | str = "cpu",
                   cache_dense: bool = True) -> tuple[LoadedModel, BitPlan]:
    """Reloads a :func:`save_quantized` folder: same modules, same buffers, same answers.

    The model is built from its config without random initialisation, each quantized block's
    linears become :class:`QuantLinear` shells of the stored shapes, and the saved tensors
    are loaded strictly (a missing or unexpected tensor is an error).

    Args:
        folder: what :func:`save_quantized` wrote.
        device: where the model runs.
        cache_dense: keep each dequantized weight after its first use (faster; as
            :class:`~luq.apply.LayerVariantCache` does by default).
    """
    folder = Path(folder)
    plan = BitPlan.load(folder / PLAN_FILE)
    config = AutoConfig.from_pretrained(folder)
    with no_init_weights():
        model = AutoModelForImageTextToText.from_config(config, dtype=config.dtype)
    adapter = adapter_for(model)
    plan.check_layers(adapter.block_names(model))
    weights = str(folder / WEIGHTS_FILE)
    with safe_open(weights, "pt") as stored:
        for a in plan.layers:
            if a.spec.method != "fp16":
                _install_shells(model.get_submodule(a.name), a.name, a.spec, stored,
                                cache_dense)
    load_model(model, weights, strict=True)
    model = model.to(device).eval()
    processor = load_processor(folder, config.model_type) if _has_processor(folder) else None
    return LoadedModel(str(folder), model, processor, adapter), plan


def _install_shells(block: nn.Module, name: str, spec: QuantSpec, stored,
                    cache_dense: bool) -> None:
    """Replaces the block's ``nn.Linear`` children by QuantLinear of the stored tensors."""
    def make(sub: str, linear: nn.Linear) -> QuantLinear:
        prefix = f"{name}.{sub}.q_"
        tensors = {k[len(prefix):]: stored.get_tensor(k) for k in stored.keys()
                   if k.startswith(prefix)}
        if not tensors:
            raise ValueError(f"no stored tensors for {name}.{sub} ({spec.label})")
        qweight = QuantizedWeight(spec, (linear.out_features, linear.in_features), tensors)
        bias = stored.get_tensor(f"{name}.{sub}.bias") if linear.bias is not None else None
        return QuantLinear(qweight, bias, cache_dense)

    replace_linears(block, make)


def _has_processor(folder: Path) -> bool:
    return any((folder / f).exists() for f in ("tokenizer_config.json", "tokenizer.json"))

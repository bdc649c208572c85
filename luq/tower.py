"""The vision tower and projector at a llama.cpp type, as an ``mmproj`` GGUF stores them.

llama.cpp can quantize a projector file's linear weights (F16 by default; Q8_0 or Q4_K
here); the explorer shows what that costs by putting the same ggml types on the PyTorch
tower: each linear weight of the tower and projector is quantized by ggml and read back in
place (the originals are kept to go back). No importance matrix is used for the tower, here
and in the export alike, so both hold the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from luq.memory import TOWER_PARTS
from luq.models.adapters import ArchAdapter
from luq.models.features import cache_image_features
from luq.quant.ggml_types import stored_type
from luq.quant.registry import dequantize, quantize_weight
from luq.quant.spec import FULL_PRECISION, QuantSpec

TOWER_TYPES = ("F16", "Q8_0", "Q4_K")


def tower_spec(name: str) -> QuantSpec:
    """The setting of a tower type name (F16: kept as it is)."""
    if name not in TOWER_TYPES:
        raise ValueError(f"unknown tower type {name!r}; known: {', '.join(TOWER_TYPES)}")
    return FULL_PRECISION if name == "F16" else QuantSpec.ggml(name)


def tower_parts(spec: QuantSpec) -> dict[str, QuantSpec]:
    """``plan_memory``'s ``parts`` for a tower setting (none for full precision)."""
    return {} if spec.method == "fp16" else dict.fromkeys(TOWER_PARTS, spec)


class TowerWeights:
    """The tower's and projector's linear weights, switched between settings in place.

    Args:
        model: the loaded model.
        adapter: names its parts.
    """

    def __init__(self, model: nn.Module, adapter: ArchAdapter) -> None:
        self.linears = [m for name, m in model.named_modules() if isinstance(m, nn.Linear)
                        and adapter.category(f"{name}.weight") in TOWER_PARTS]
        # a picture's features are computed once while these weights stay as they are
        cache_image_features(model, [m.weight for m in self.linears])
        self.originals: list[torch.Tensor] | None = None
        self.spec = FULL_PRECISION

    @torch.no_grad()
    def apply(self, spec: QuantSpec) -> None:
        """Puts every tower linear at ``spec`` (from the original weights, never compounded)."""
        if spec == self.spec:
            return
        if self.originals is None:
            self.originals = [m.weight.detach().clone() for m in self.linears]
        for module, original in zip(self.linears, self.originals):
            weight = original if spec.method == "fp16" else \
                dequantize(quantize_weight(original, spec))
            module.weight.copy_(weight.to(module.weight.device, module.weight.dtype))
        self.spec = spec


_MMPROJ_LINEAR = re.compile(r"^(v\.blk\.\d+\.(attn_(q|k|v|out)|ffn_(up|down))|mm\.\d+)\.weight$")


def typed_mmproj(src: Path, dst: Path, qtype: str) -> Path:
    """The F16 mmproj with its tower and projector linears at ``qtype`` (norms, embeddings,
    the patch convolution and position table stay as they are)."""
    def tensor_type(tensor: str, n_per_row: int) -> str | None:
        return stored_type(qtype, n_per_row) if _MMPROJ_LINEAR.match(tensor) else None

    from luq.engines import ggml

    ggml.requantize_gguf(src, dst, tensor_type, file_type="GUESSED")
    return dst

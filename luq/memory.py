"""Exact weight-memory accounting for a model under a :class:`~luq.plan.BitPlan`.

Formula: every decoder-block linear weight costs what its quantization method stores
(packed codes + per-group scales/zeros + bitmaps; ``luq.quant.registry.weight_nbytes``);
every other parameter (embeddings, lm_head, norms, biases, vision tower, projector) costs
``FP_BYTES`` (fp16) per value. Tied parameters count once. The layout is read once from the
model (real or meta tensors, so a 7B model needs no weights) and a plan is then priced by
arithmetic alone, fast enough for a slider.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from luq.models.adapters import ArchAdapter, adapter_for
from luq.plan import BitPlan
from luq.quant.linear import QuantLinear
from luq.quant.registry import FP_BYTES, weight_nbytes
from luq.quant.spec import QuantSpec


@dataclass(frozen=True)
class BlockLayout:
    """One decoder block: its linear weights and the count of its other values."""

    name: str
    linears: tuple[tuple[str, tuple[int, int]], ...]  # (full name, (out, in))
    other_params: int  # norms, biases: kept in full precision

    @property
    def linear_params(self) -> int:
        return sum(o * i for _, (o, i) in self.linears)


@dataclass(frozen=True)
class ModelLayout:
    """The shapes that memory depends on, read once from a model."""

    model_type: str
    blocks: tuple[BlockLayout, ...]
    fp_params: tuple[tuple[str, int], ...]  # (category, value count) outside the blocks
    matrices: tuple[tuple[str, tuple[int, int]], ...] = ()  # embeddings / lm_head shapes

    @property
    def block_names(self) -> list[str]:
        return [b.name for b in self.blocks]

    @property
    def decoder_linear_params(self) -> int:
        return sum(b.linear_params for b in self.blocks)


@dataclass(frozen=True)
class MemoryReport:
    """Bytes of a model under a plan.

    Attributes:
        total_bytes: everything.
        decoder_bytes: decoder-block linear weights as stored under the plan.
        full_precision_bytes: everything else (fp16): embeddings, lm_head, vision tower,
            projector, norms and biases (decoder ones included).
        avg_bits: stored bits per decoder linear weight, metadata included.
        breakdown: bytes by category; ``decoder_codes`` and ``decoder_scales`` split the
            decoder bytes into the nominal-width codes and their overhead (scales, zero
            points, bitmaps); ``decoder_other`` is the blocks' norms and biases.
        by_spec: decoder linear bytes by quantization setting (e.g. ``rtn-4b-g64``).
        per_layer: bytes of each block's linear weights, in depth order.
    """

    total_bytes: int
    decoder_bytes: int
    full_precision_bytes: int
    avg_bits: float
    breakdown: dict[str, int] = field(default_factory=dict)
    by_spec: dict[str, int] = field(default_factory=dict)
    per_layer: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {
            "total_bytes": self.total_bytes,
            "decoder_bytes": self.decoder_bytes,
            "full_precision_bytes": self.full_precision_bytes,
            "avg_bits": round(self.avg_bits, 4),
            "total_mb": round(self.total_bytes / 1e6, 3),
            "breakdown": self.breakdown,
            "by_spec": self.by_spec,
            "per_layer_bytes": list(self.per_layer),
        }


def model_layout(model: nn.Module, adapter: ArchAdapter | None = None) -> ModelLayout:
    """Reads the memory-relevant shapes of ``model`` (works on the meta device)."""
    adapter = adapter or adapter_for(model)
    blocks = []
    for name, block in zip(adapter.block_names(model), adapter.blocks(model)):
        linears, other = [], 0
        for sub, module in block.named_modules():
            if isinstance(module, nn.Linear):
                linears.append((f"{name}.{sub}", (module.out_features, module.in_features)))
        linear_weights = {id(block.get_submodule(n[len(name) + 1:]).weight) for n, _ in linears}
        for p in block.parameters():
            if id(p) not in linear_weights:
                other += p.numel()
        blocks.append(BlockLayout(name, tuple(linears), other))
    fp: dict[str, int] = {}
    matrices = []
    linear = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    for pname, p in model.named_parameters():  # tied weights are listed once
        category = adapter.category(pname)
        if category != "decoder":
            fp[category] = fp.get(category, 0) + p.numel()
        if category in QUANTIZABLE_PARTS and p.dim() == 2 and (
                category not in TOWER_PARTS or id(p) in linear):  # the tower's linears only
            matrices.append((category, tuple(p.shape)))
    return ModelLayout(adapter.model_type, tuple(blocks), tuple(sorted(fp.items())),
                       tuple(matrices))


TOWER_PARTS = ("vision", "projector")  # an mmproj GGUF: its linear weights take a type
QUANTIZABLE_PARTS = ("embeddings", "lm_head", *TOWER_PARTS)


def plan_memory(layout: ModelLayout, plan: BitPlan,
                parts: dict[str, QuantSpec] | None = None) -> MemoryReport:
    """Prices ``plan`` on ``layout``.

    Args:
        layout: the model's shapes.
        plan: the decoder blocks' settings.
        parts: optionally, a setting for ``embeddings`` and/or ``lm_head`` (kept in fp16
            otherwise), for what-if estimates closer to llama.cpp deployments.

    Raises:
        ValueError: the plan does not name exactly the layout's decoder blocks.
    """
    plan.check_layers(layout.block_names)
    breakdown = {"decoder_codes": 0, "decoder_scales": 0}
    by_spec: dict[str, int] = {}
    per_layer = []
    for block, spec in zip(layout.blocks, plan.specs()):
        nbytes = sum(weight_nbytes(shape, spec) for _, shape in block.linears)
        per_layer.append(nbytes)
        codes = sum(math.ceil(o * i * spec.bits / 8) for _, (o, i) in block.linears)
        breakdown["decoder_codes"] += codes
        breakdown["decoder_scales"] += nbytes - codes
        by_spec[spec.label] = by_spec.get(spec.label, 0) + nbytes
    decoder_bytes = sum(per_layer)
    breakdown["decoder_other"] = sum(b.other_params for b in layout.blocks) * FP_BYTES
    for category, count in layout.fp_params:
        breakdown[category] = count * FP_BYTES
    for category, spec in (parts or {}).items():
        if category not in QUANTIZABLE_PARTS:
            raise ValueError(f"only {', '.join(QUANTIZABLE_PARTS)} can be quantized here")
        for cat, shape in layout.matrices:
            if cat == category:
                breakdown[cat] += weight_nbytes(shape, spec) - shape[0] * shape[1] * FP_BYTES
    fp_bytes = sum(v for k, v in breakdown.items() if not k.startswith("decoder_")) \
        + breakdown["decoder_other"]
    linear_params = layout.decoder_linear_params
    return MemoryReport(
        total_bytes=decoder_bytes + fp_bytes,
        decoder_bytes=decoder_bytes,
        full_precision_bytes=fp_bytes,
        avg_bits=decoder_bytes * 8 / linear_params if linear_params else 0.0,
        breakdown=breakdown,
        by_spec=by_spec,
        per_layer=tuple(per_layer),
    )


def measured_nbytes(model: nn.Module) -> int:
    """Bytes of a model's stored tensors as they are now (parameters and persistent buffers).

    Floating-point tensors are counted at ``FP_BYTES`` per value, as the accounting does, so
    a model running in fp32 compares with its fp16 deployment (quantized scales are fp16
    already); packed uint8 codes count at their real size.
    """
    total = 0
    seen: set[int] = set()
    for module in model.modules():
        for name, t in list(module.named_parameters(recurse=False)) + list(
            module.named_buffers(recurse=False)
        ):
            if id(t) in seen or name in module._non_persistent_buffers_set:
                continue
            seen.add(id(t))
            total += t.numel() * (FP_BYTES if t.is_floating_point() else t.element_size())
    return total


def resident_weight_bytes(model: nn.Module, blocks: nn.ModuleList | None = None,
                          in_place: Sequence[nn.Module] | None = None) -> int:
    """Bytes the running model's weights hold now, at their real size.

    The sum over the modules currently in ``model`` of their parameters and buffers (all of
    them, fp32 at 4 bytes a value), plus the dense weights cached by quantized layers; a
    storage shared by several tensors (tied or shared weights) counts once, meta tensors
    count nothing. Blocks swapped out of the model (a variant store's originals and unused
    variants) are not counted: this is what the model runs on, not what the process holds
    (for that, :func:`luq.resources.process_rss_bytes`).

    With ``blocks`` (the model's block list) and ``in_place`` (one module per block), the
    count is of the model as it would stand with ``in_place`` swapped in, without swapping:
    what a plan's variants hold, while other threads run the model as it is.
    """
    seen: set[tuple[str, int]] = set()
    total = 0

    def add(t: torch.Tensor | None) -> None:
        nonlocal total
        if t is None or t.is_meta:
            return
        storage = t.untyped_storage()
        key = (str(t.device), storage.data_ptr())
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()

    def modules(root: nn.Module, seen_modules: set[int]):
        if id(root) in seen_modules:
            return
        seen_modules.add(id(root))
        yield root
        children = in_place if root is blocks and in_place is not None else root.children()
        for child in list(children):
            yield from modules(child, seen_modules)

    for module in modules(model, set()):
        for t in module.parameters(recurse=False):
            add(t)
        for t in module.buffers(recurse=False):
            add(t)
        if isinstance(module, QuantLinear):
            add(module._dense)
    return total

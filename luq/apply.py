"""Apply a BitPlan to a model by swapping decoder blocks; each variant is quantized once.

``LayerVariantCache`` keeps, per decoder block, the original (full-precision) module and a
quantized copy per :class:`~luq.quant.QuantSpec` it has been asked for. Applying a plan puts
the right module in each slot of the decoder's ``ModuleList``: switching plans, or going
back to full precision, is a swap, never a re-quantization.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping

from torch import nn

from luq.models.adapters import ArchAdapter, adapter_for
from luq.plan import BitPlan
from luq.progress import Progress
from luq.quant.linear import QuantLinear, replace_linears
from luq.quant.registry import get_method
from luq.quant.spec import QuantSpec
from luq.quant.stats import InputStats


def quantize_block(block: nn.Module, name: str, spec: QuantSpec,
                   stats: Mapping[str, InputStats] | None = None,
                   cache_dense: bool = False) -> nn.Module:
    """A copy of ``block`` whose ``nn.Linear`` children are :class:`QuantLinear`.

    Args:
        block: a decoder block (left untouched).
        name: its full module name; ``stats`` is keyed by ``f"{name}.{sub}"``.
        spec: how every linear of the block is stored.
        stats: calibration statistics per linear (needed by GPTQ and AWQ).
        cache_dense: keep dequantized weights after the first forward (faster on CPU).
    """
    method = get_method(spec.method)
    new = copy.deepcopy(block)

    def make(sub: str, linear: nn.Linear) -> QuantLinear:
        full = f"{name}.{sub}"
        layer_stats = stats.get(full) if stats is not None else None
        if method.requires_calibration and layer_stats is None:
            raise ValueError(f"{spec.method} needs calibration statistics for {full}; "
                             "collect them first (luq.activations.collect_input_stats)")
        return QuantLinear.from_linear(linear, spec, layer_stats, cache_dense)

    replace_linears(new, make)
    return new


class LayerVariantCache:
    """Quantized variants of a model's decoder blocks, and the swap that applies a plan.

    Args:
        model: the model; its blocks are swapped in place.
        adapter: where its decoder blocks are (found from the config when omitted).
        stats: calibration statistics per linear, for methods that use them.
        cache_dense: passed to every :class:`QuantLinear`.

    ``lock`` serialises apply-then-run for callers that share the model (the app).
    """

    def __init__(self, model: nn.Module, adapter: ArchAdapter | None = None,
                 stats: Mapping[str, InputStats] | None = None, cache_dense: bool = True) -> None:
        self.model = model
        self.adapter = adapter or adapter_for(model)
        self.stats = stats
        self.cache_dense = cache_dense
        self.blocks = self.adapter.blocks(model)
        self.names = self.adapter.block_names(model)
        self.originals = {n: b for n, b in zip(self.names, self.blocks)}
        self.variants: dict[tuple[str, QuantSpec], nn.Module] = {}
        self.quantize_calls = 0
        self.current: BitPlan | None = None
        self.lock = threading.RLock()

    def variant(self, name: str, spec: QuantSpec) -> nn.Module:
        """The block ``name`` stored as ``spec`` (quantized on first request only)."""
        if spec.method == "fp16":
            return self.originals[name]
        key = (name, spec)
        if key not in self.variants:
            self.variants[key] = quantize_block(self.originals[name], name, spec, self.stats,
                                                self.cache_dense)
            self.quantize_calls += 1
        return self.variants[key]

    def prepare(self, specs: list[QuantSpec], progress: Progress | None = None) -> None:
        """Quantizes every block for each of ``specs`` up front (e.g. before a slider)."""
        todo = [(n, s) for s in specs for n in self.names if s.method != "fp16"]
        for i, (name, spec) in enumerate(todo):
            self.variant(name, spec)
            if progress:
                progress(i + 1, len(todo), f"quantizing {name} ({spec.label})")

    def apply(self, plan: BitPlan) -> None:
        """Puts each block of ``plan`` in place (quantizing only variants never seen)."""
        plan.check_layers(self.names)
        for i, assignment in enumerate(plan.layers):
            module = self.variant(assignment.name, assignment.spec)
            if self.blocks[i] is not module:
                self.blocks[i] = module
        self.current = plan

    def restore(self) -> None:
        """Full precision again (a swap)."""
        for i, name in enumerate(self.names):
            self.blocks[i] = self.originals[name]
        self.current = None

"""The variant store: each decoder block quantized once per setting, a plan applied by swapping.

:class:`VariantStore` keeps, per decoder block, the original (full-precision) module and a
quantized copy per :class:`~luq.quant.QuantSpec` it has been asked for. Variants hold packed
tensors only and share every full-precision tensor (norms, biases) with the original, so full
precision is kept once. Applying a plan puts the right module in each slot of the decoder's
``ModuleList``: switching plans, or going back to full precision, is a swap, never a
re-quantization.

Dense (dequantized) weights live in one bounded :class:`~luq.quant.dense.DenseCache`; with a
bound, only the blocks of the applied plan keep any. Calibration statistics are streamed block
by block when variants that read them are built, and freed as soon as the block is done.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from luq.locks import FairRLock
from luq.memlimit import RESERVE, active_limit
from luq.memory import resident_weight_bytes
from luq.models.adapters import ArchAdapter, adapter_for
from luq.plan import BitPlan
from luq.progress import Progress
from luq.quant.dense import DenseCache
from luq.quant.linear import QuantLinear, replace_linears
from luq.quant.registry import get_method
from luq.quant.spec import QuantSpec
from luq.quant.stats import InputStats
from luq.resources import available_memory_bytes, release_free_memory
from luq.spill import spill_linears
from luq.statistics import collect_statistics

SMALL_DECODER_BYTES = 1 << 30  # up to this dense decoder size the dense cache is unbounded
DENSE_SHARE = 0.5  # beyond it, the cache holds at most this share of the dense decoder
Batches = Sequence[dict] | Callable[[], Sequence[dict]]


def quantize_block(block: nn.Module, name: str, spec: QuantSpec,
                   stats: Mapping[str, InputStats] | None = None,
                   cache_dense: bool | DenseCache = False) -> nn.Module:
    """A copy of ``block`` whose ``nn.Linear`` children are :class:`QuantLinear`.

    The copy shares every other tensor with ``block`` (norms, biases): nothing in full
    precision is duplicated, and ``block`` is left untouched.

    Args:
        block: a decoder block.
        name: its full module name; ``stats`` is keyed by ``f"{name}.{sub}"``.
        spec: how every linear of the block is stored.
        stats: calibration statistics per linear (needed by GPTQ and AWQ).
        cache_dense: passed to every :class:`QuantLinear`.
    """
    method = get_method(spec.method)
    shared = {id(t): t for t in itertools.chain(block.parameters(), block.buffers())}
    new = copy.deepcopy(block, shared)

    def make(sub: str, linear: nn.Linear) -> QuantLinear:
        full = f"{name}.{sub}"
        layer_stats = stats.get(full) if stats is not None else None
        if method.requires_calibration and layer_stats is None:
            raise ValueError(f"{spec.method} needs calibration statistics for {full}; "
                             "give the store calibration batches or statistics "
                             "(luq.statistics.collect_statistics)")
        return QuantLinear.from_linear(linear, spec, layer_stats, cache_dense)

    replace_linears(new, make)
    return new


def default_dense_limit(model: nn.Module, adapter: ArchAdapter | None = None) -> int | None:
    """The dense-cache bound that fits beside ``model``.

    Unbounded (None) when the decoder's linear weights take at most
    :data:`SMALL_DECODER_BYTES` in the model's dtype (the embedded model: speed first). Larger
    decoders: on the CPU, :data:`DENSE_SHARE` of them, so that the full-precision originals,
    the packed variants and the cache stay within about twice the model; on a GPU all of
    them. Either way at most half the memory still free where the model is.
    """
    adapter = adapter or adapter_for(model)
    dense = _dense_bytes(adapter.blocks(model))
    if dense <= SMALL_DECODER_BYTES:
        return None
    device = next(m.weight for m in adapter.blocks(model)[0].modules()
                  if isinstance(m, nn.Linear)).device
    limit = dense if device.type == "cuda" else int(dense * DENSE_SHARE)
    available = available_memory_bytes(device) if device.type != "meta" else None
    return min(limit, available // 2) if available is not None else limit


def _dense_bytes(blocks) -> int:  # the blocks' linear weights, at their own width
    return sum(m.weight.numel() * m.weight.element_size() for block in blocks
               for m in block.modules() if isinstance(m, nn.Linear))


class VariantStore:
    """Quantized variants of a model's decoder blocks, and the swap that applies a plan.

    Args:
        model: the model; its blocks are swapped in place.
        adapter: where its decoder blocks are (found from the config when omitted).
        stats: calibration statistics per linear, kept by the caller (optional; without
            them, ``calibration`` is streamed when a variant needs statistics).
        cache_dense: cache dequantized weights at all (False: rebuild them every forward).
        dense_limit: the dense cache's bound in bytes: ``"auto"`` (default,
            :func:`default_dense_limit`), None (unbounded) or a number (0: no cache).
        calibration: calibration batches, or a function returning them (called when first
            needed), for variants that read statistics.
        spill: move a block's full-precision linear weights to a memory-mapped file
            (:mod:`luq.spill`) once :meth:`prepare` has built its variants: ``"auto"``
            (default) when a CPU memory limit is active and the room it leaves is below
            :data:`DENSE_SHARE` of the dense decoder; True always (CPU weights); False never.

    Attributes:
        dense: the shared :class:`DenseCache`.
        quantize_calls: blocks quantized so far (a plan switch adds none).
        seconds: time spent collecting ``statistics`` and in ``quantize``.

    ``lock`` serialises apply-then-run for callers that share the model (the app).
    """

    def __init__(self, model: nn.Module, adapter: ArchAdapter | None = None,
                 stats: Mapping[str, InputStats] | None = None, cache_dense: bool = True, *,
                 dense_limit: int | None | str = "auto",
                 calibration: Batches | None = None, spill: bool | str = "auto") -> None:
        self.model = model
        self.adapter = adapter or adapter_for(model)
        self.stats = stats
        self.calibration = calibration
        self.blocks = self.adapter.blocks(model)
        self.names = self.adapter.block_names(model)
        self.originals = {n: b for n, b in zip(self.names, self.blocks)}
        if dense_limit == "auto":
            dense_limit = default_dense_limit(model, self.adapter)
        self._dense_bound = dense_limit if cache_dense else 0  # before any memory limit
        self.spill = spill
        self.spilled: set[str] = set()  # blocks whose originals live in a spill file
        self.dense = DenseCache(self._dense_bound)
        self.variants: dict[tuple[str, QuantSpec], nn.Module] = {}
        self.imatrix: dict[str, torch.Tensor] = {}  # what ggml settings were quantized with
        self.quantize_calls = 0
        self.seconds = {"statistics": 0.0, "quantize": 0.0}
        self.current: BitPlan | None = None
        self.lock = FairRLock()

    @property
    def cache_dense(self) -> bool:
        return self.dense.limit != 0

    def _build(self, name: str, spec: QuantSpec, stats: Mapping[str, InputStats] | None) -> None:
        start = time.perf_counter()
        if spec.method == "ggml" and stats:  # kept (in floats per column) for the GGUF export
            self.imatrix.update({k: s.sq_mean for k, s in stats.items()
                                 if k.startswith(name + ".") and s.sq_mean is not None})
        self.variants[(name, spec)] = quantize_block(self.originals[name], name, spec, stats,
                                                     self.dense)
        release_free_memory()  # the quantizer's temporaries, freed between packed results
        self._fit_dense()
        self.quantize_calls += 1
        self.seconds["quantize"] += time.perf_counter() - start

    def _streams(self, spec: QuantSpec) -> bool:
        """Whether building ``spec`` streams the calibration (it reads statistics we lack)."""
        return (self.stats is None and self.calibration is not None
                and bool(get_method(spec.method).needs(spec)))

    def variant(self, name: str, spec: QuantSpec) -> nn.Module:
        """The block ``name`` stored as ``spec`` (quantized on first request only; a setting
        that streams statistics is then built for every block at once)."""
        if spec.method == "fp16":
            return self.originals[name]
        built = self.variants.get((name, spec))
        if built is not None:  # built once, never replaced: no lock needed to read it
            return built
        with self.lock:
            if (name, spec) not in self.variants:
                if self._streams(spec):
                    self.prepare([spec])
                else:
                    self._build(name, spec, self.stats)
            return self.variants[(name, spec)]

    def prepare(self, specs: Sequence[QuantSpec], progress: Progress | None = None) -> None:
        """Builds every block's variant for each of ``specs`` up front (e.g. before a slider).

        Settings that read statistics the store lacks stream ``calibration`` once, block by
        block; each block's statistics are freed as soon as its variants are built.
        """
        with self.lock:
            specs = list(dict.fromkeys(s for s in specs if s.method != "fp16"))
            streamed = [s for s in specs if self._streams(s)
                        and any((n, s) not in self.variants for n in self.names)]
            todo = [(n, s) for n in self.names for s in specs if s not in streamed
                    and (n, s) not in self.variants]  # block by block: each can then spill
            total = len(todo) + (len(self.names) if streamed else 0)
            for i, (name, spec) in enumerate(todo):
                self._build(name, spec, self.stats)
                if not streamed and (i + 1 == len(todo) or todo[i + 1][0] != name):
                    self._spill(name)
                if progress:
                    progress(i + 1, total, f"quantizing {name} ({spec.label})")
            if streamed:
                self._stream(streamed, progress, len(todo), total)

    def _stream(self, specs: list[QuantSpec], progress: Progress | None, done: int,
                total: int) -> None:
        """Statistics block by block, each block's variants built from them at once."""
        def build(name: str, stats: dict[str, InputStats]) -> None:
            for spec in specs:
                if (name, spec) not in self.variants:
                    self._build(name, spec, stats)
            self._spill(name)

        def report(i: int, _n: int, message: str) -> None:
            if progress:
                progress(done + i, total, message)

        batches = self.calibration() if callable(self.calibration) else self.calibration
        start, quantized = time.perf_counter(), self.seconds["quantize"]
        collect_statistics(self.model, self.adapter, batches, specs, report, on_block=build,
                           blocks=[self.originals[n] for n in self.names])
        self.seconds["statistics"] += (time.perf_counter() - start
                                       - (self.seconds["quantize"] - quantized))

    def _spill(self, name: str) -> None:
        """Spills the block's originals when :attr:`spill` asks for it now."""
        if self.spill is False or name in self.spilled:
            return
        if self.spill == "auto":
            limit = active_limit()
            if limit is None or torch.device(limit.device).type != "cpu":
                return
            if limit.room() >= DENSE_SHARE * _dense_bytes(self.originals.values()):
                return
        try:
            spill_linears(self.originals[name])
        except OSError:  # no room or no folder for the file: the weights stay in RAM
            return
        self.spilled.add(name)
        release_free_memory()

    def apply(self, plan: BitPlan) -> None:
        """Puts each block of ``plan`` in place (quantizing only variants never seen)."""
        with self.lock:
            plan.check_layers(self.names)
            for i, assignment in enumerate(plan.layers):
                module = self.variant(assignment.name, assignment.spec)
                if self.blocks[i] is not module:
                    self.blocks[i] = module
            self.current = plan
            self._trim_dense()

    def resident_bytes(self, plan: BitPlan | None) -> int:
        """:func:`~luq.memory.resident_weight_bytes` of the model with ``plan`` applied (None:
        full precision), counted without applying it: the model may run meanwhile."""
        if plan is not None:
            plan.check_layers(self.names)
        modules = [self.originals[n] for n in self.names] if plan is None else \
            [self.variant(a.name, a.spec) for a in plan.layers]
        return resident_weight_bytes(self.model, self.blocks, modules)

    def restore(self) -> None:
        """Full precision again (a swap)."""
        with self.lock:
            for i, name in enumerate(self.names):
                self.blocks[i] = self.originals[name]
            self.current = None
            self._trim_dense()

    def _fit_dense(self, in_use: set | None = None) -> None:
        """Under an active memory limit (:mod:`luq.memlimit`), the dense cache gets half the
        room the limit leaves beside everything else held, less a reserve for activations
        (the other half is for what runs: evaluation batches, the probe's references)."""
        limit = active_limit()
        if limit is None or self._dense_bound == 0:
            if self.dense.limit != self._dense_bound:  # a limit was lifted: the usual bound
                self.dense.resize(self._dense_bound)
            return
        room = max(0, limit.headroom() + self.dense.nbytes - int(RESERVE * limit.nbytes)) // 2
        if in_use is not None and self.dense.nbytes > room:
            self.dense.retain(in_use)  # blocks out of use go first
        self.dense.resize(room if self._dense_bound is None else min(room, self._dense_bound))

    def _trim_dense(self) -> None:
        """With a bounded cache only the blocks in use keep dense weights; under a memory limit
        the cache is fitted to the room left, blocks out of use dropped first."""
        in_use = {m for block in self.blocks for m in block.modules()
                  if isinstance(m, QuantLinear)}
        if self._dense_bound is not None:
            self.dense.retain(in_use)
        self._fit_dense(in_use)


LayerVariantCache = VariantStore  # the name the app, CLI and benchmarks first used

"""Calibration statistics for quantization, block by block, keeping only what is needed.

:func:`collect_statistics` gathers the input statistics of every decoder linear that the
chosen settings read (:class:`~luq.quant.stats.StatsNeeds`: a Hessian for GPTQ, its inverse
Cholesky diagonal for per-channel BiLLM-style, input samples for AWQ) and nothing else.

It streams over blocks, GPTQ-style: one pass up to the first decoder block captures each
calibration batch's block input and call arguments; then each block runs alone over all of
them (batches with the same length and positions stacked into one), with hooks on its
linears, and its outputs become the next block's inputs. Only one
block's statistics exist at a time; they are reduced to what is needed and handed to
``on_block`` (which can quantize the block at once) or kept, reduced, in the result. Blocks
whose call arguments differ from one another (sliding-window layers) fall back to one pass
over the whole model with hooks on every block.

Linears that read the same input tensor (``q/k/v_proj``, ``gate/up_proj``) share one
:class:`~luq.quant.stats.InputStats`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from luq.models.adapters import ArchAdapter
from luq.progress import Progress
from luq.quant.registry import stats_needs
from luq.quant.spec import QuantSpec
from luq.quant.stats import InputStats, StatsNeeds

BlockStats = dict[str, InputStats]  # full linear name -> statistics (shared inputs: one object)


class _Stop(Exception):
    """Raised by the capture hook: the rest of the model need not run."""


class BlockHooks:
    """Forward hooks feeding :class:`InputStats` from the linears of one block.

    Args:
        block: the decoder block.
        name: its full module name (statistics are keyed ``f"{name}.{sub}"``).
        needs: what to keep.
        max_samples: input rows kept per input when ``needs.samples``.

    Use as a context manager; ``stats`` holds the statistics.
    """

    def __init__(self, block: nn.Module, name: str, needs: StatsNeeds,
                 max_samples: int = 512) -> None:
        self.block, self.name, self.needs = block, name, needs
        self.max_samples = max_samples
        self.stats: BlockStats = {}
        self._shared: set[str] = set()  # linears reading another linear's input
        self._seen: dict[int, tuple[torch.Tensor, str]] = {}  # inputs of the current call
        self._calls = 0
        self._handles: list = []

    def __enter__(self) -> BlockHooks:
        for sub, module in self.block.named_modules():
            if isinstance(module, nn.Linear):
                full = f"{self.name}.{sub}"
                self._handles.append(module.register_forward_hook(
                    lambda m, inp, _o, n=full: self._add(n, m, inp[0])))
        self._handles.append(self.block.register_forward_hook(self._end_call))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._seen.clear()

    def _add(self, name: str, module: nn.Linear, x: torch.Tensor) -> None:
        if name in self._shared:
            return
        if self._calls == 0:  # the first call decides which linears share an input
            seen = self._seen.get(id(x))
            if seen is not None and seen[0] is x:
                self._shared.add(name)
                self.stats[name] = self.stats[seen[1]]
                return
            self._seen[id(x)] = (x, name)
        if name not in self.stats:
            self.stats[name] = InputStats(module.in_features, self.max_samples,
                                          hessian=self.needs.accumulates_hessian,
                                          samples=self.needs.samples)
        self.stats[name].add_batch(x)

    def _end_call(self, *_args) -> None:
        self._calls += 1
        self._seen.clear()

    def reduce(self) -> BlockStats:
        """The statistics, each reduced to ``needs`` (shared objects reduced once)."""
        for stats in {id(s): s for s in self.stats.values()}.values():
            stats.reduce(self.needs)
        return self.stats


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def capture_block_inputs(model: nn.Module, adapter: ArchAdapter,
                         batches: Iterable[dict]) -> list[tuple[tuple, dict]]:
    """Each batch's ``(args, kwargs)`` at the first decoder block (the model stops there)."""
    captured: list[tuple[tuple, dict]] = []

    def stop(_module, args, kwargs):
        captured.append((args, kwargs))
        raise _Stop

    device = next(model.parameters()).device
    handle = adapter.blocks(model)[0].register_forward_pre_hook(stop, with_kwargs=True)
    try:
        with torch.no_grad():
            for batch in batches:
                try:
                    model(**_to_device(batch, device), use_cache=False)
                except _Stop:
                    pass
    finally:
        handle.remove()
    return captured


def _streamable(blocks: Sequence[nn.Module]) -> bool:
    """Whether every block takes the same call arguments (no per-layer attention types)."""
    return len({getattr(b, "attention_type", None) for b in blocks}) == 1


@torch.no_grad()
def collect_statistics(model: nn.Module, adapter: ArchAdapter, batches: Iterable[dict],
                       specs: Iterable[QuantSpec], progress: Progress | None = None,
                       on_block: Callable[[str, BlockStats], None] | None = None,
                       blocks: Sequence[nn.Module] | None = None,
                       max_samples: int = 512) -> dict[str, InputStats]:
    """Input statistics of the decoder linears, only what ``specs`` read.

    Args:
        model: the model (its embeddings and vision tower run once per batch).
        adapter: where its decoder blocks are.
        batches: calibration inputs (model keyword arguments).
        specs: the settings the statistics are for; none that reads any: returns ``{}``.
        progress: ``progress(done, total, message)``, once per block.
        on_block: ``on_block(block_name, stats)`` as soon as a block's statistics are
            complete and reduced; they are then not kept in the result.
        blocks: the full-precision blocks to measure, in depth order (default: the model's
            current ones; a variant store passes its originals).
        max_samples: input rows kept per input for AWQ.

    Returns:
        Reduced statistics by full linear name (empty when ``on_block`` took them).
    """
    needs = stats_needs(specs)
    if not needs:
        return {}
    names = adapter.block_names(model)
    blocks = list(blocks) if blocks is not None else list(adapter.blocks(model))
    batches = list(batches)
    result: dict[str, InputStats] = {}

    def finish(i: int, hooks: BlockHooks) -> None:
        stats = hooks.reduce()
        if on_block is not None:
            on_block(names[i], stats)
        else:
            result.update(stats)
        if progress:
            progress(i + 1, len(names), f"statistics {names[i]}")

    if not _streamable(blocks):
        _one_pass(model, adapter, batches, blocks, names, needs, max_samples, finish)
        return result
    groups = _batched(capture_block_inputs(model, adapter, batches))
    for i, block in enumerate(blocks):
        with BlockHooks(block, names[i], needs, max_samples) as hooks:
            for j, (hidden, args, kwargs) in enumerate(groups):
                out = block(hidden, *args, **kwargs)
                groups[j] = (out[0] if isinstance(out, tuple) else out, args, kwargs)
        finish(i, hooks)
    return result


def _same(a, b) -> bool:
    """Equal call arguments: tensors by value, containers element-wise, others by ``==``."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        return (torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape
                and a.dtype == b.dtype and torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a is b or (type(a) is type(b) and isinstance(a, (int, float, str, bool)) and a == b)


def _batched(inputs: list[tuple[tuple, dict]]) -> list[tuple[torch.Tensor, tuple, dict]]:
    """``(hidden, args, kwargs)`` groups: batches whose block calls differ only in their
    hidden states (same length, same positions and mask) run as one batch, so each block's
    weights are read once per group rather than once per calibration sample."""
    groups: list[tuple[list[torch.Tensor], tuple, dict]] = []
    for args, kwargs in inputs:
        kwargs = dict(kwargs)
        hidden = args[0] if args else kwargs.pop("hidden_states")
        for members, g_args, g_kwargs in groups:
            if (hidden.shape[0] == 1 and members[0].shape == hidden.shape
                    and _same(g_args, args[1:]) and _same(g_kwargs, kwargs)):
                members.append(hidden)
                break
        else:
            groups.append(([hidden], args[1:], kwargs))
    return [(torch.cat(members), a, k) for members, a, k in groups]


def _one_pass(model, adapter, batches, blocks, names, needs, max_samples, finish) -> None:
    """Hooks on every block at once, one forward pass per batch (all statistics in memory)."""
    current = adapter.blocks(model)
    swapped = [(i, current[i]) for i, b in enumerate(blocks) if current[i] is not b]
    for i, _ in swapped:  # measure the blocks asked for
        current[i] = blocks[i]
    hooks = [BlockHooks(b, n, needs, max_samples) for b, n in zip(blocks, names)]
    device = next(model.parameters()).device
    try:
        for h in hooks:
            h.__enter__()
        for batch in batches:
            model(**_to_device(batch, device), use_cache=False)
    finally:
        for h in hooks:
            h.__exit__()
        for i, module in swapped:
            current[i] = module
    for i, h in enumerate(hooks):
        finish(i, h)

"""Forward hooks that record decoder activations split by token modality.

Image positions are ``input_ids == image_token_id`` (every supported architecture marks
them so); all other positions are text. Each (layer, modality) keeps at most
``max_tokens`` token vectors in a seeded reservoir, so memory is bounded whatever the
calibration size. Hooks live only inside the ``with`` block.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from luq.memlimit import active_limit, text_config
from luq.models.adapters import ArchAdapter
from luq.progress import Progress
from luq.quant.stats import InputStats, StatsNeeds
from luq.resources import available_memory_bytes
from luq.statistics import BlockHooks

MODALITIES = ("image", "text")


class Reservoir:
    """A uniform sample of at most ``capacity`` rows from a stream (Algorithm R, seeded).

    Rows stay on ``device`` (default: where they come from, so a GPU model's sample never
    crosses to the CPU) in the dtype they come in. Each offered batch is placed at once: the
    slots Algorithm R draws for it are drawn on the CPU with the seeded generator, and where
    two rows draw the same slot the later one wins, as one row at a time would have it.
    """

    def __init__(self, capacity: int, seed: int = 0,
                 device: torch.device | str | None = None) -> None:
        self.capacity = capacity
        self.seen = 0
        self.rows: torch.Tensor | None = None
        self.device = torch.device(device) if device is not None else None
        self._gen = torch.Generator().manual_seed(seed)

    def add(self, x: torch.Tensor) -> None:
        """Offers rows ``x`` of shape ``(n, d)``."""
        x = x.detach()
        if self.device is not None:
            x = x.to(self.device)
        if self.rows is None:
            self.rows = x.new_empty(0, x.shape[1])
        room = self.capacity - self.rows.shape[0]
        if room > 0:
            self.rows = torch.cat([self.rows, x[:room]])
            self.seen += min(room, x.shape[0])
            x = x[room:]
        if x.shape[0] == 0:
            return
        index = torch.arange(self.seen + 1, self.seen + x.shape[0] + 1)
        slots = (torch.rand(x.shape[0], generator=self._gen) * index).long()  # U{0..i-1}
        kept = torch.nonzero(slots < self.capacity).squeeze(1)  # rows that enter, in order
        self.seen += x.shape[0]
        if kept.numel() == 0:
            return
        drawn = slots[kept]
        # the last row to draw each slot wins: first occurrence in the reversed order
        unique, inverse = torch.unique(drawn.flip(0), return_inverse=True)
        first = torch.full((unique.numel(),), drawn.numel()).scatter_reduce(
            0, inverse, torch.arange(drawn.numel()), "amin")
        last = drawn.numel() - 1 - first
        self.rows[drawn[last].to(self.rows.device)] = x[kept[last].to(x.device)].to(
            self.rows.dtype)

    def tensor(self) -> torch.Tensor:
        return self.rows if self.rows is not None else torch.zeros(0, 0)


def reservoir_device(model: nn.Module, adapter: ArchAdapter, max_tokens: int,
                     linears: bool = False) -> torch.device:
    """Where recorded samples are kept: on the model's GPU when they fit the room the memory
    limit leaves (half of it; :mod:`luq.memlimit`), else in CPU memory."""
    weight = next(model.parameters())
    if weight.device.type == "cpu":
        return weight.device
    text = text_config(model.config)
    width = int(getattr(text, "hidden_size", 0) or 0)
    if linears:
        width += 7 * int(getattr(text, "intermediate_size", 0) or 4 * width)
    need = len(adapter.blocks(model)) * len(MODALITIES) * max_tokens * width * weight.element_size()
    limit = active_limit()
    room = limit.room() if limit is not None else \
        (available_memory_bytes(weight.device) or 0)
    return weight.device if need <= room // 2 else torch.device("cpu")


class ActivationRecorder:
    """Records block outputs (and optionally linear outputs and linear input stats).

    Args:
        model: the model to run.
        adapter: where its decoder blocks are.
        max_tokens: reservoir size per (module, modality).
        linears: also record the output of every linear inside each block (detail view).
        input_stats: also accumulate :class:`InputStats` of every block linear's input, all
            of it (prefer :func:`luq.statistics.collect_statistics`, which keeps only what
            the chosen settings read).
        seed: reservoir seed.

    Use as a context manager; ``run(batch)`` runs one forward pass.
    """

    def __init__(self, model: nn.Module, adapter: ArchAdapter, max_tokens: int = 2048,
                 linears: bool = False, input_stats: bool = False, seed: int = 0) -> None:
        self.model = model
        self.adapter = adapter
        self.max_tokens = max_tokens
        self.image_token_id = adapter.image_token_id(model)
        self.block_names = adapter.block_names(model)
        self.outputs: dict[str, dict[str, Reservoir]] = {}
        self._stat_hooks: list[BlockHooks] = []
        self._want_linears = linears
        self._want_stats = input_stats
        self._mask: torch.Tensor | None = None  # (B*T,) True at image positions
        self._handles: list = []
        self._seed = seed
        self._store = reservoir_device(model, adapter, max_tokens, linears)

    def _reservoirs(self, name: str) -> dict[str, Reservoir]:
        if name not in self.outputs:
            seed = self._seed + len(self.outputs)
            self.outputs[name] = {m: Reservoir(self.max_tokens, seed, self._store)
                                  for m in MODALITIES}
        return self.outputs[name]

    def _record(self, name: str, hidden: torch.Tensor) -> None:
        flat = hidden.reshape(-1, hidden.shape[-1])  # (B*T, d)
        if self._mask is None or self._mask.numel() != flat.shape[0]:
            return  # a decode step of generate(): positions unknown, skip
        res = self._reservoirs(name)
        mask = self._mask.to(flat.device)  # blocks may sit on other GPUs (device_map)
        res["image"].add(flat[mask])
        res["text"].add(flat[~mask])

    def __enter__(self) -> ActivationRecorder:
        for name, block in zip(self.block_names, self.adapter.blocks(self.model)):
            self._handles.append(block.register_forward_hook(self._block_hook(name)))
            for sub, module in block.named_modules():
                if not isinstance(module, nn.Linear):
                    continue
                full = f"{name}.{sub}"
                if self._want_linears:
                    self._handles.append(module.register_forward_hook(
                        lambda _m, _i, out, n=full: self._record(n, out)))
            if self._want_stats:
                self._stat_hooks.append(BlockHooks(block, name, StatsNeeds(True, True)).__enter__())
        return self

    @property
    def stats(self) -> dict[str, InputStats]:
        """Input statistics by linear name (Hessian and samples; shared inputs share one)."""
        return {k: v for hooks in self._stat_hooks for k, v in hooks.stats.items()}

    def _block_hook(self, name: str):
        def hook(_module, _inputs, output):
            self._record(name, output[0] if isinstance(output, tuple) else output)
        return hook

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for hooks in self._stat_hooks:
            hooks.__exit__()

    @torch.no_grad()
    def run(self, batch: dict[str, torch.Tensor]) -> None:
        """One forward pass over ``batch`` (model inputs), recording through the hooks."""
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        self._mask = (batch["input_ids"] == self.image_token_id).reshape(-1)
        try:
            self.model(**batch)
        finally:
            self._mask = None

    def tokens(self, name: str, modality: str) -> torch.Tensor:
        """Recorded vectors of module ``name`` for ``modality`` (``image``/``text``/``all``)."""
        res = self.outputs.get(name)
        if res is None:
            return torch.zeros(0, 0)
        if modality == "all":
            parts = [r.tensor() for r in res.values() if r.tensor().numel()]
            return torch.cat(parts) if parts else torch.zeros(0, 0)
        return res[modality].tensor()


def record_batches(model: nn.Module, adapter: ArchAdapter, batches: Iterable[dict],
                   progress: Progress | None = None, **kw) -> ActivationRecorder:
    """Runs every batch through ``model`` with hooks attached; returns the recorder."""
    batches = list(batches)
    with ActivationRecorder(model, adapter, **kw) as rec:
        for i, batch in enumerate(batches):
            rec.run(batch)
            if progress:
                progress(i + 1, len(batches), "recording activations")
    return rec

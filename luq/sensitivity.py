"""Measured sensitivity: the damage of sending one decoder block alone to the ultra-low setting.

For each block, the plan "this block ultra-low, every other block at the base setting" is
applied by swapping cached variants (one quantization per block and setting, then only
swaps), and the model's next-token distributions on the calibration batches are compared
with the full-precision model's: the mean KL divergence ``KL(p_fp || p_plan)`` over every
position. It needs no labels, so it works for any checkpoint; where labelled data exists an
accuracy callback adds the accuracy drop.

Whether entropy predicts this damage is the paper's hypothesis; :func:`spearman` and
:func:`bootstrap_spearman` measure it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from luq.apply import LayerVariantCache
from luq.memlimit import RESERVE, active_limit, text_config, token_bytes
from luq.plan import BitPlan
from luq.progress import Progress
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.resources import available_memory_bytes


@dataclass(frozen=True)
class Sensitivity:
    """Per-block damage.

    Attributes:
        names: blocks in depth order.
        kl: mean KL divergence per block (nats), depth order.
        per_sample: ``kl`` before averaging, ``[block][sample]`` (for bootstrap intervals).
        base_kl: KL of the base plan alone (every block at the base setting).
        accuracy: accuracy per block when an evaluation callback was given.
        base_accuracy: accuracy of the base plan.
    """

    names: tuple[str, ...]
    kl: tuple[float, ...]
    per_sample: tuple[tuple[float, ...], ...]
    base_kl: float
    accuracy: tuple[float, ...] | None = None
    base_accuracy: float | None = None


@torch.no_grad()
def _log_probs(model, batch: dict) -> torch.Tensor:
    """Next-token log-probabilities ``(B, T, V)`` in float32, where the model is."""
    device = next(model.parameters()).device
    inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    return F.log_softmax(model(**inputs).logits.float(), dim=-1)


def _kl(reference: torch.Tensor, current: torch.Tensor) -> float:
    """Mean over positions of ``KL(ref || cur)`` for one sample."""
    reference = reference.to(current.device, non_blocking=True)
    return float(F.kl_div(current, reference, log_target=True, reduction="none").sum(-1).mean())


def _collate(samples: list[dict], pad_id: int) -> dict:
    """Samples of one kind (same tensors beside the text) as one right-padded batch: every
    real position sees what it saw alone (causal attention, padding after it)."""
    width = max(s["input_ids"].shape[1] for s in samples)
    out: dict = {}
    for key in samples[0]:
        parts = [s[key] for s in samples]
        if key in ("input_ids", "attention_mask"):
            fill = pad_id if key == "input_ids" else 0
            parts = [F.pad(t, (0, width - t.shape[1]), value=fill) for t in parts]
        out[key] = torch.cat(parts)
    return out


def _batches(model, samples: list[dict]) -> list[tuple[dict, list[int]]]:
    """Forward batches over ``samples``, each with its samples' lengths, in sample order.

    On the CPU one sample per forward (as measured so far); on a GPU, samples that carry
    the same kinds of tensors (with or without an image, the same image size) share a
    forward, as many as the room under the memory limit allows: one dequantization of every
    uncached block then serves them all.
    """
    lengths = [int(s["input_ids"].shape[1]) for s in samples]
    weight = next(model.parameters())
    if weight.device.type == "cpu":
        return [(s, [n]) for s, n in zip(samples, lengths)]
    text = text_config(model.config)
    pad_id = int(getattr(text, "pad_token_id", None) or 0)
    vocab = int(getattr(text, "vocab_size", 0) or 1)
    per_token = token_bytes(model.config, weight.dtype) + 3 * vocab * 4
    limit = active_limit()
    room = (limit.headroom() - int(RESERVE / 3 * limit.nbytes)) if limit is not None else \
        (available_memory_bytes(weight.device) or 0) // 2

    def kind(s: dict) -> tuple:
        return tuple((k, tuple(v.shape[1:]) if k != "input_ids" and k != "attention_mask"
                      else None) for k, v in sorted(s.items()) if torch.is_tensor(v))

    out: list[tuple[dict, list[int]]] = []
    run: list[int] = []
    for i, sample in enumerate(samples):
        tokens = max([lengths[j] for j in run] + [lengths[i]])
        if run and (kind(samples[run[0]]) != kind(sample)
                    or (len(run) + 1) * tokens * per_token > room):
            out.append((_collate([samples[j] for j in run], pad_id), [lengths[j] for j in run]))
            run = []
        run.append(i)
    out.append((_collate([samples[j] for j in run], pad_id), [lengths[j] for j in run]))
    return out


def _references(model, samples: list[dict], on_device: bool) -> list[torch.Tensor]:
    """Each sample's full-precision log-probabilities ``(T_i, V)``, one forward batch at a
    time, kept on the model's device (copies, so no padded batch stays alive) or in CPU
    memory."""
    out = []
    for batch, lengths in _batches(model, samples):
        logp = _log_probs(model, batch)
        out += [logp[i, :n].clone() if on_device else logp[i, :n].cpu()
                for i, n in enumerate(lengths)]
        del logp
    return out


def _kls(model, samples: list[dict], reference: list[torch.Tensor]) -> list[float]:
    """Each sample's mean ``KL(ref || current)``, one forward batch at a time, on the device."""
    out: list[float] = []
    for batch, lengths in _batches(model, samples):
        logp = _log_probs(model, batch)
        refs = reference[len(out):len(out) + len(lengths)]
        if logp.device.type == "cpu":  # as measured so far: one float per sample
            out += [_kl(r, logp[i, :n]) for i, (r, n) in enumerate(zip(refs, lengths))]
        else:  # one transfer back per batch
            out += torch.stack([
                F.kl_div(logp[i, :n], r.to(logp.device, non_blocking=True), log_target=True,
                         reduction="none").sum(-1).mean()
                for i, (r, n) in enumerate(zip(refs, lengths))]).tolist()
        del logp
    return out


def _groups(model, batches: list[dict]) -> tuple[list[list[dict]], bool]:
    """Calibration samples in groups whose reference distributions fit the room left, and
    whether the references stay on the model's device (else they wait in CPU memory).

    The room is half of what the memory limit leaves (:mod:`luq.memlimit`), less its reserve
    for activations; without a limit, a quarter of the free memory. A GPU keeps references
    when one sample's fit there, else they wait in CPU memory.
    """
    device = next(model.parameters()).device
    text = text_config(model.config)
    vocab = int(getattr(text, "vocab_size", 0) or 1)
    sizes = [int(b["input_ids"].numel()) * vocab * 4 for b in batches]
    limit = active_limit()

    def room_on(where: torch.device) -> int:
        if limit is not None and torch.device(limit.device).type == where.type:
            return limit.room() // 2
        return (available_memory_bytes(where) or 0) // 4

    on_device = device.type != "cpu" and room_on(device) >= max(sizes)
    room = room_on(device if on_device else torch.device("cpu"))
    groups: list[list[dict]] = [[]]
    used = 0
    for batch, size in zip(batches, sizes):
        if groups[-1] and used + size > room:
            groups.append([])
            used = 0
        groups[-1].append(batch)
        used += size
    return groups, on_device


def probe(cache: LayerVariantCache, batches: list[dict], low: QuantSpec,
          base: QuantSpec | None = None,
          evaluate: Callable[[], float] | None = None,
          progress: Progress | None = None) -> Sensitivity:
    """Measures each block's damage at ``low`` with the others at ``base``.

    Calibration samples go in groups (:func:`_groups`: as many as the memory limit lets their
    full-precision distributions wait); for each group the full-precision reference is
    computed once, then every plan (the base plan, then each block alone at ``low``) is run on
    the group and compared on the device. Each (group, plan) is one short step under the
    lock, a background one: the app's requests go first, each applying its own plan.

    Args:
        cache: variant cache of the model (its current plan is restored afterwards).
        batches: calibration inputs.
        low: the ultra-low setting probed.
        base: the other blocks' setting; None keeps them in full precision.
        evaluate: optional ``evaluate() -> accuracy`` of the model as it stands.
        progress: ``progress(done, total, message)``.
    """
    base = base or FULL_PRECISION
    names = cache.names
    plans = [BitPlan.uniform(names, base)] + [BitPlan.mixed(names, base, low, [n])
                                              for n in names]
    labels = ["the base plan"] + list(names)
    with cache.lock.background():  # the plan to put back, read where no one changes it
        previous = cache.current

    def step(plan: BitPlan | None, fn):
        with cache.lock.background():
            cache.apply(plan) if plan is not None else cache.restore()
            return fn()

    groups, on_device = _groups(cache.model, batches)
    kl: list[list[float]] = [[] for _ in plans]
    total, done = len(groups) * len(plans), 0
    try:
        for group in groups:
            reference = step(None, lambda g=group: _references(cache.model, g, on_device))
            for j, plan in enumerate(plans):
                kl[j] += step(plan, lambda g=group, r=reference: _kls(cache.model, g, r))
                done += 1
                if progress:
                    progress(done, total, f"probing {labels[j]}")
            del reference
        accuracy = [step(plan, evaluate) for plan in plans] if evaluate else None
    finally:
        with cache.lock.background():
            cache.apply(previous) if previous is not None else cache.restore()
    base_kl = sum(kl[0]) / len(batches)
    per_sample = [tuple(x) for x in kl[1:]]
    return Sensitivity(tuple(names), tuple(sum(s) / len(s) for s in per_sample),
                       tuple(per_sample), base_kl,
                       tuple(accuracy[1:]) if accuracy else None,
                       accuracy[0] if accuracy else None)


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (Pearson of average ranks); nan when undefined."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("spearman needs two equal-length lists of at least 2 values")
    rx, ry = torch.tensor(_ranks(list(x))), torch.tensor(_ranks(list(y)))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = float(rx.norm() * ry.norm())
    return float((rx * ry).sum()) / denom if denom else float("nan")


def bootstrap_spearman(scores: list[float], per_sample: tuple[tuple[float, ...], ...],
                       rounds: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """rho of ``scores`` vs mean damage, and a 90 % bootstrap interval over samples.

    Calibration samples are resampled with replacement; each round recomputes every
    block's mean damage and the rank correlation.
    """
    n = len(per_sample[0])
    damage = [sum(s) / n for s in per_sample]
    rho = spearman(scores, damage)
    rng = random.Random(seed)
    values = []
    for _ in range(rounds):
        idx = [rng.randrange(n) for _ in range(n)]
        r = spearman(scores, [sum(s[i] for i in idx) / n for s in per_sample])
        if r == r:  # skip nan rounds
            values.append(r)
    values.sort()
    if not values:
        return rho, float("nan"), float("nan")
    return rho, values[int(0.05 * (len(values) - 1))], values[int(0.95 * (len(values) - 1))]

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
from luq.plan import BitPlan
from luq.progress import Progress
from luq.quant.spec import FULL_PRECISION, QuantSpec


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
def _log_probs(model, batches: list[dict]) -> list[torch.Tensor]:
    device = next(model.parameters()).device
    out = []
    for batch in batches:
        inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        out.append(F.log_softmax(model(**inputs).logits.float(), dim=-1).cpu())
    return out


def _kl(reference: list[torch.Tensor], current: list[torch.Tensor]) -> list[float]:
    """Mean over positions of ``KL(ref || cur)`` per sample."""
    return [float(F.kl_div(c, r, log_target=True, reduction="none").sum(-1).mean())
            for r, c in zip(reference, current)]


def probe(cache: LayerVariantCache, batches: list[dict], low: QuantSpec,
          base: QuantSpec | None = None,
          evaluate: Callable[[], float] | None = None,
          progress: Progress | None = None) -> Sensitivity:
    """Measures each block's damage at ``low`` with the others at ``base``.

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

    def step(plan: BitPlan | None, fn):
        # One short step under the lock (a background one: the app's requests go first);
        # between steps other users run their own plans, each applying its plan first.
        with cache.lock.background():
            previous = cache.current
            try:
                cache.apply(plan) if plan is not None else cache.restore()
                return fn()
            finally:
                cache.apply(previous) if previous is not None else cache.restore()

    def measure(plan: BitPlan | None) -> tuple[list[torch.Tensor], float | None]:
        logp = [step(plan, lambda b=b: _log_probs(cache.model, [b])[0]) for b in batches]
        return logp, step(plan, evaluate) if evaluate else None

    reference, _ = measure(None)
    base_logp, base_acc = measure(BitPlan.uniform(names, base))
    base_kl = sum(_kl(reference, base_logp)) / len(batches)
    per_sample, accuracy = [], []
    for i, name in enumerate(names):
        logp, acc = measure(BitPlan.mixed(names, base, low, [name]))
        per_sample.append(tuple(_kl(reference, logp)))
        accuracy.append(acc)
        if progress:
            progress(i + 1, len(names), f"probing {name}")
    return Sensitivity(tuple(names), tuple(sum(s) / len(s) for s in per_sample),
                       tuple(per_sample), base_kl,
                       tuple(accuracy) if evaluate else None, base_acc)


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

"""Entropy estimators of a set of activation vectors: pure tensor functions.

* k-means (the paper's): cluster the token vectors into ``K`` clusters and take the Shannon
  entropy, in bits, of the cluster occupancy. ``K`` equal, well-separated clusters give
  ``log2 K``; one cluster gives 0.
* histogram: the Shannon entropy, in bits, of a ``B``-bin histogram of all values, optionally
  with the ``clip`` tails (a quantile) cut first, so a few outliers do not squeeze the bins.

They run wherever the tensor lives (CPU or GPU) and are seeded, so they are repeatable.
"""

from __future__ import annotations

import torch


def shannon_bits(counts: torch.Tensor) -> float:
    """Entropy in bits of a histogram of counts."""
    p = counts.float()
    p = p[p > 0] / p.sum()
    return float(-(p * torch.log2(p)).sum()) + 0.0 if p.numel() else 0.0  # no -0.0


def kmeans_assign(x: torch.Tensor, k: int, iters: int = 25, seed: int = 0) -> torch.Tensor:
    """Cluster index of each row of ``x`` after Lloyd's k-means.

    Args:
        x: ``(n, d)`` vectors.
        k: clusters (capped at ``n``).
        iters: Lloyd iterations (stops early when assignments settle).
        seed: picks the initial centres (k-means++).

    Returns:
        ``(n,)`` int64 cluster ids.
    """
    x = x.float()
    n = x.shape[0]
    k = min(k, n)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    # k-means++ initialisation, D^2 sampling
    first = int(torch.randint(n, (1,), generator=gen))
    centres = [x[first]]
    d2 = ((x - x[first]) ** 2).sum(1)
    for _ in range(1, k):
        weights = d2.cpu() if float(d2.sum()) > 0 else torch.ones(n)
        nxt = int(torch.multinomial(weights, 1, generator=gen))
        centres.append(x[nxt])
        d2 = torch.minimum(d2, ((x - x[nxt]) ** 2).sum(1))
    c = torch.stack(centres)  # (k, d)
    assign = torch.cdist(x, c).argmin(1)
    for _ in range(iters):
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        c = torch.where(counts > 0, sums / counts.clamp(min=1), c)
        new = torch.cdist(x, c).argmin(1)
        if torch.equal(new, assign):
            break
        assign = new
    return assign


def kmeans_entropy(x: torch.Tensor, k: int = 100, iters: int = 25, seed: int = 0) -> float:
    """Entropy (bits) of k-means cluster occupancy of the rows of ``x`` ``(n, d)``."""
    if x.numel() == 0:
        return float("nan")
    return shannon_bits(torch.bincount(kmeans_assign(x, k, iters, seed)))


def histogram_entropy(x: torch.Tensor, bins: int = 256, clip: float = 0.0) -> float:
    """Entropy (bits) of a ``bins``-bin histogram of all values of ``x``.

    Args:
        x: any shape; values are pooled.
        bins: histogram bins over [min, max] (after clipping).
        clip: quantile cut from each tail first (e.g. 0.001); 0 keeps everything.
    """
    v = x.float().reshape(-1)
    if v.numel() == 0:
        return float("nan")
    if clip > 0:
        sample = v if v.numel() <= 1_000_000 else v[:: v.numel() // 1_000_000 + 1]
        lo, hi = torch.quantile(sample, torch.tensor([clip, 1 - clip], device=v.device))
        v = v[(v >= lo) & (v <= hi)]
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return 0.0
    return shannon_bits(torch.histc(v, bins=bins, min=lo, max=hi))


ESTIMATORS = ("kmeans", "hist", "hist-clip")


def estimate(x: torch.Tensor, estimator: str, clusters: int = 100, bins: int = 256,
             clip: float = 0.001, seed: int = 0) -> float:
    """Dispatches to an estimator by name; an unknown name lists the known ones."""
    if estimator == "kmeans":
        return kmeans_entropy(x, clusters, seed=seed)
    if estimator == "hist":
        return histogram_entropy(x, bins)
    if estimator == "hist-clip":
        return histogram_entropy(x, bins, clip)
    raise ValueError(f"unknown estimator {estimator!r}; known: {', '.join(ESTIMATORS)}")

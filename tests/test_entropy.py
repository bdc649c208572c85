import math

import pytest
import torch

from luq.entropy import estimate, histogram_entropy, kmeans_entropy


def _clusters(k, per=50, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 100
    return centres.repeat_interleave(per, 0) + torch.randn(k * per, d, generator=g) * 0.01


@pytest.mark.parametrize("k", [2, 5, 16])
def test_kmeans_uniform_clusters_give_log2_k(k):
    assert kmeans_entropy(_clusters(k), k) == pytest.approx(math.log2(k), abs=1e-6)


def test_kmeans_one_cluster_gives_zero():
    assert kmeans_entropy(torch.ones(40, 8), 10) == 0.0


def test_kmeans_is_seeded_and_k_is_capped():
    x = torch.randn(300, 8)
    assert kmeans_entropy(x, 20, seed=3) == kmeans_entropy(x, 20, seed=3)
    assert kmeans_entropy(x[:5], 100) <= math.log2(5) + 1e-9


def test_histogram_uniform_values():
    x = torch.arange(256).float()
    assert histogram_entropy(x, bins=256) == pytest.approx(8.0)
    assert histogram_entropy(torch.zeros(10)) == 0.0


def test_clipping_tails_changes_an_outlier_dominated_estimate():
    x = torch.randn(10000)
    x[0] = 1e4
    assert histogram_entropy(x, 64, clip=0.001) > histogram_entropy(x, 64) + 1.0


def test_unknown_estimator_lists_known():
    with pytest.raises(ValueError, match="kmeans, hist, hist-clip"):
        estimate(torch.randn(4, 4), "pca")

"""Pseudo-labelled prompts for SMILE-VLM: the text side of training without ground truth.

DECIDED in docs/methods.md, following the sister paper MultiviewVLM (arXiv 2505.09336): embed
the views
with the current encoder, cluster the fused embeddings with k-means (k = number of classes), match
clusters to a bank of descriptive prompts by zero-shot similarity with a Hungarian assignment, and
give each sample its cluster's prompt; the loop refreshes this every few epochs.

Nothing here accepts a label: the API cannot leak ground truth into self-supervised training.
The prompt ids in ``PseudoLabelResult.prompt_of_sample`` are what ``SmileVLMLoss`` takes as
``labels`` (label-aware InfoNCE targets) and what selects each sample's text.

Usage::

    result = assign_pseudo_prompts(fused, prompt_bank, seed=epoch)  # (N, D), (k, D)
    text_id_of_sample = result.prompt_of_sample                      # (N,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


class KMeansResult(NamedTuple):
    labels: torch.Tensor  # (N,) cluster of each point, int64
    centroids: torch.Tensor  # (k, D) float64
    inertia: float  # sum of squared distances to the assigned centroid


@dataclass(frozen=True)
class PseudoLabelResult:
    """Outcome of one pseudo-labelling round (all tensors on CPU).

    Attributes:
        cluster_of_sample: (N,) k-means cluster of each sample.
        prompt_of_cluster: (k,) prompt-bank index matched to each cluster (a permutation when the
            bank has exactly k prompts).
        prompt_of_sample: (N,) ``prompt_of_cluster[cluster_of_sample]``, the pseudo-label.
        similarity: (k, m) cosine similarity of each cluster centroid to each prompt.
    """

    cluster_of_sample: torch.Tensor
    prompt_of_cluster: torch.Tensor
    prompt_of_sample: torch.Tensor
    similarity: torch.Tensor


def _kmeans_pp_init(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each new centre is drawn with
    probability proportional to the squared distance to the nearest centre chosen so far."""
    n = x.shape[0]
    centres = [x[torch.randint(n, (1,), generator=generator).item()]]
    d2 = (x - centres[0]).pow(2).sum(dim=1)  # (N,)
    for _ in range(1, k):
        weights = d2 if d2.sum() > 0 else torch.ones_like(d2)  # all points coincide: uniform
        idx = torch.multinomial(weights, 1, generator=generator).item()
        centres.append(x[idx])
        d2 = torch.minimum(d2, (x - x[idx]).pow(2).sum(dim=1))
    return torch.stack(centres)  # (k, D)


def _lloyd(
    x: torch.Tensor, centroids: torch.Tensor, n_iter: int, tol: float
) -> tuple[torch.Tensor, torch.Tensor, float]:
    k = centroids.shape[0]
    for _ in range(n_iter):
        d2 = torch.cdist(x, centroids).pow(2)  # (N, k)
        labels = d2.argmin(dim=1)  # (N,)
        counts = torch.bincount(labels, minlength=k)  # (k,)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)  # (k, D)
        new = sums / counts.clamp_min(1)[:, None]
        for empty in torch.nonzero(counts == 0).flatten().tolist():
            # an empty cluster restarts at the point worst served by its current centroid
            worst = d2.gather(1, labels[:, None]).squeeze(1).argmax()
            new[empty] = x[worst]
            d2[worst] = 0.0
        shift = (new - centroids).pow(2).sum().item()
        centroids = new
        if shift <= tol:
            break
    d2 = torch.cdist(x, centroids).pow(2)
    labels = d2.argmin(dim=1)
    return labels, centroids, d2.gather(1, labels[:, None]).sum().item()


def kmeans(
    x: torch.Tensor | np.ndarray,
    k: int,
    seed: int = 0,
    n_iter: int = 100,
    n_init: int = 4,
    tol: float = 1e-10,
) -> KMeansResult:
    """Lloyd's k-means with k-means++ seeding on ``x`` (N, D), in float64 on CPU.

    Deterministic for a given ``seed``: ``n_init`` seedings are drawn from one CPU generator and
    the run with the lowest inertia is kept (ties: the earliest).
    """
    points = torch.as_tensor(x).detach().to("cpu", torch.float64)  # (N, D)
    if not 1 <= k <= points.shape[0]:
        raise ValueError(f"k must be in [1, N={points.shape[0]}], got {k}")
    generator = torch.Generator().manual_seed(seed)
    best: KMeansResult | None = None
    for _ in range(n_init):
        init = _kmeans_pp_init(points, k, generator)
        labels, centroids, inertia = _lloyd(points, init, n_iter, tol)
        if best is None or inertia < best.inertia:
            best = KMeansResult(labels, centroids, inertia)
    assert best is not None
    return best


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` (k, D) with every row of ``b`` (m, D) -> (k, m)."""
    a64 = F.normalize(torch.as_tensor(a).detach().to("cpu", torch.float64), dim=1)
    b64 = F.normalize(torch.as_tensor(b).detach().to("cpu", torch.float64), dim=1)
    return a64 @ b64.T


def hungarian_match(
    cluster_centroids: torch.Tensor, prompt_embeddings: torch.Tensor
) -> torch.Tensor:
    """One-to-one assignment of clusters (k, D) to prompts (m >= k, D) maximising the total cosine
    similarity; returns (k,) prompt index per cluster. Solved exactly by
    ``scipy.optimize.linear_sum_assignment`` on the negative similarity."""
    k, m = cluster_centroids.shape[0], prompt_embeddings.shape[0]
    if m < k:
        raise ValueError(f"need at least as many prompts ({m}) as clusters ({k})")
    sim = cosine_similarity_matrix(cluster_centroids, prompt_embeddings)  # (k, m)
    rows, cols = linear_sum_assignment(-sim.numpy())  # rows == arange(k)
    assignment = torch.empty(k, dtype=torch.long)
    assignment[torch.from_numpy(rows)] = torch.from_numpy(cols).long()
    return assignment


def assign_pseudo_prompts(
    fused_embeddings: torch.Tensor | np.ndarray,
    prompt_bank_embeddings: torch.Tensor | np.ndarray,
    seed: int = 0,
    n_clusters: int | None = None,
    n_iter: int = 100,
    n_init: int = 4,
) -> PseudoLabelResult:
    """Cluster the fused embeddings (N, D) and give each sample its cluster's matched prompt.

    Args:
        fused_embeddings: (N, D) fused image embeddings of the training set from the current
            encoder; L2-normalised here so k-means works on the sphere, like the cosine
            similarities the model is trained on.
        prompt_bank_embeddings: (m, D) one text embedding per descriptive prompt (average a
            class's prompt ensemble into one row beforehand).
        seed: k-means seed (vary it per refresh for fresh seedings, fix it to reproduce).
        n_clusters: k; defaults to the number of prompts m (k = number of classes).
    """
    z = F.normalize(torch.as_tensor(fused_embeddings).detach().to("cpu", torch.float64), dim=1)
    prompts = torch.as_tensor(prompt_bank_embeddings).detach().to("cpu", torch.float64)
    k = prompts.shape[0] if n_clusters is None else n_clusters
    clusters = kmeans(z, k, seed=seed, n_iter=n_iter, n_init=n_init)
    prompt_of_cluster = hungarian_match(clusters.centroids, prompts)  # (k,)
    return PseudoLabelResult(
        cluster_of_sample=clusters.labels,
        prompt_of_cluster=prompt_of_cluster,
        prompt_of_sample=prompt_of_cluster[clusters.labels],
        similarity=cosine_similarity_matrix(clusters.centroids, prompts),
    )

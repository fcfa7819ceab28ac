"""Pseudo-labelled prompts: k-means, Hungarian matching, and the label-free assignment."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from facevlm.models.pseudo_labels import assign_pseudo_prompts, hungarian_match, kmeans


def blobs(centres: torch.Tensor, per_blob: int, spread: float, seed: int = 0):
    """Points scattered around each row of ``centres`` (k, D); returns points and blob ids."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.arange(centres.shape[0]).repeat_interleave(per_blob)
    points = centres[ids] + spread * torch.randn(len(ids), centres.shape[1], generator=gen)
    order = torch.randperm(len(ids), generator=gen)  # interleave blobs
    return points[order], ids[order]


def test_hungarian_recovers_a_permuted_identity():
    perm = torch.tensor([3, 0, 4, 1, 2])
    prompts = torch.eye(5)
    assert hungarian_match(prompts[perm], prompts).tolist() == perm.tolist()


def test_hungarian_is_one_to_one_where_greedy_argmax_is_not():
    # both clusters are closest to prompt 0; the best one-to-one total gives cluster 0 prompt 1
    centroids = torch.tensor([[0.9, 0.8], [0.85, 0.1]])
    prompts = torch.eye(2)
    assert (centroids @ prompts.T).argmax(dim=1).tolist() == [0, 0]
    assert hungarian_match(centroids, prompts).tolist() == [1, 0]


def test_hungarian_uses_cosine_not_dot_product():
    # a long centroid must not win a prompt by its norm: by dot product the best total is
    # [0, 1] (10 + 0.1 > 9 + 0.9); by cosine it is [1, 0] (0.67 + 0.99 > 0.74 + 0.11)
    centroids = torch.tensor([[10.0, 9.0], [0.9, 0.1]])
    assert hungarian_match(centroids, torch.eye(2)).tolist() == [1, 0]


def test_kmeans_recovers_well_separated_blobs():
    points, truth = blobs(torch.eye(4) * 10, per_blob=25, spread=0.5)
    result = kmeans(points, k=4, seed=0)
    assert adjusted_rand_score(truth.numpy(), result.labels.numpy()) == 1.0
    for c in range(4):  # centroids sit at the blob means
        members = points[result.labels == c]
        assert torch.allclose(result.centroids[c].float(), members.mean(0), rtol=0, atol=1e-5)


def test_kmeans_is_deterministic_for_a_seed():
    points, _ = blobs(torch.randn(5, 3, generator=torch.Generator().manual_seed(3)), 20, 1.0)
    first, again = kmeans(points, k=5, seed=7), kmeans(points, k=5, seed=7)
    assert torch.equal(first.labels, again.labels)
    assert torch.equal(first.centroids, again.centroids)


def test_kmeans_accepts_numpy_and_handles_k_equal_to_n():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    result = kmeans(points, k=3, seed=0)
    assert sorted(result.labels.tolist()) == [0, 1, 2]
    assert result.inertia == pytest.approx(0.0)
    with pytest.raises(ValueError, match="k must be"):
        kmeans(points, k=4)


def test_assign_pseudo_prompts_gives_each_blob_the_prompt_it_lies_near():
    prompts = torch.eye(6)  # one prompt per class, on the axes
    points, blob = blobs(prompts * 3, per_blob=15, spread=0.2, seed=1)
    result = assign_pseudo_prompts(points, prompts, seed=0)
    assert result.prompt_of_sample.tolist() == blob.tolist()  # blob b lies around prompt b
    assert sorted(result.prompt_of_cluster.tolist()) == list(range(6))  # a permutation
    assert torch.equal(result.prompt_of_sample, result.prompt_of_cluster[result.cluster_of_sample])
    assert result.similarity.shape == (6, 6)
    matched = result.similarity[torch.arange(6), result.prompt_of_cluster]
    assert (matched > 0.9).all()


def test_assign_pseudo_prompts_is_deterministic_for_a_seed():
    gen = torch.Generator().manual_seed(2)
    prompts, points = torch.randn(4, 8, generator=gen), torch.randn(60, 8, generator=gen)
    first = assign_pseudo_prompts(points, prompts, seed=5)
    again = assign_pseudo_prompts(points, prompts, seed=5)
    assert torch.equal(first.prompt_of_sample, again.prompt_of_sample)
    assert torch.equal(first.similarity, again.similarity)


def test_the_api_cannot_receive_ground_truth_labels():
    for fn in (assign_pseudo_prompts, kmeans, hungarian_match):
        assert not any("label" in name for name in inspect.signature(fn).parameters)

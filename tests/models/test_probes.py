"""Linear probe and k-NN on frozen features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facevlm.models.probes import fit_linear_probe, knn_predict, linear_probe


def separable(n_per_class: int, n_classes: int = 4, dim: int = 16, seed: int = 0):
    """Gaussian classes around random unit directions, well apart in angle and distance."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    centres = 4 * centres / np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.normal(scale=0.5, size=(len(y), dim))
    order = rng.permutation(len(y))
    return x[order], y[order]


@pytest.fixture(scope="module")
def split():
    x, y = separable(60)
    return x[:160], y[:160], x[160:], y[160:]


def test_linear_probe_separates_separable_classes(split):
    train_x, train_y, test_x, test_y = split
    pred = linear_probe(train_x, train_y, test_x, n_classes=4, seed=0)
    assert pred.dtype == np.int64 and pred.shape == test_y.shape
    assert (pred == test_y).mean() >= 0.95


def test_linear_probe_is_deterministic_and_accepts_tensors(split):
    train_x, train_y, test_x, _ = split
    a = linear_probe(train_x, train_y, test_x, n_classes=4, seed=3)
    as_tensors = [torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(test_x)]
    b = linear_probe(*as_tensors, n_classes=4, seed=3)
    assert np.array_equal(a, b)


def test_linear_probe_edge_cases(split):
    train_x, train_y, test_x, _ = split
    with pytest.raises(ValueError, match="labels"):
        linear_probe(train_x, train_y + 1, test_x, n_classes=4)
    constant = linear_probe(train_x, np.full_like(train_y, 2), test_x, n_classes=4)
    assert (constant == 2).all()


@pytest.mark.parametrize("cosine", [True, False])
def test_knn_separates_separable_classes(split, cosine):
    train_x, train_y, test_x, test_y = split
    pred = knn_predict(train_x, train_y, test_x, k=10, cosine=cosine)
    assert (pred == test_y).mean() >= 0.95


def test_knn_majority_vote():
    train_x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    train_y = np.array([7, 7, 3, 3, 3])
    query = np.array([[0.95, 0.05]])
    assert knn_predict(train_x, train_y, query, k=1).tolist() == [7]
    assert knn_predict(train_x, train_y, query, k=5).tolist() == [3]  # 3 votes beat 2


@pytest.mark.parametrize("k", [2, 4])
def test_knn_tied_votes_go_to_the_class_of_the_nearest_neighbour(k):
    train_x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    train_y = np.array([7, 7, 3, 3])  # every query below gets k/2 votes for each class
    assert knn_predict(train_x, train_y, np.array([[0.75, 0.66]]), k=k).tolist() == [7]
    assert knn_predict(train_x, train_y, np.array([[0.66, 0.75]]), k=k).tolist() == [3]


def test_knn_cosine_ignores_norms_euclidean_does_not():
    train_x = np.array([[10.0, 0.0], [0.0, 1.0]])
    train_y = np.array([0, 1])
    query = np.array([[1.0, 0.2]])  # direction of class 0, distance closer to class 1
    assert knn_predict(train_x, train_y, query, k=1, cosine=True).tolist() == [0]
    assert knn_predict(train_x, train_y, query, k=1, cosine=False).tolist() == [1]


def test_probe_logits_are_the_scores_behind_its_probabilities(split):
    from sklearn.linear_model import LogisticRegression

    from facevlm.evaluation.calibration import softmax

    train_x, train_y, test_x, _ = split
    probe = fit_linear_probe(train_x, train_y, seed=0)
    logits = probe.logits(test_x, n_classes=4)
    assert logits.shape == (len(test_x), 4)
    np.testing.assert_array_equal(logits.argmax(axis=1), probe.predict(test_x))
    reference = LogisticRegression(random_state=0, max_iter=1000).fit(
        (train_x - probe.mean) / probe.scale, train_y
    )
    np.testing.assert_allclose(
        softmax(logits), reference.predict_proba((test_x - probe.mean) / probe.scale), atol=1e-6
    )


def test_probe_logits_mark_a_class_absent_from_training_as_impossible(split):
    train_x, train_y, test_x, _ = split
    keep = train_y != 3
    probe = fit_linear_probe(train_x[keep], train_y[keep], seed=0)
    logits = probe.logits(test_x, n_classes=4)
    assert np.isneginf(logits[:, 3]).all() and np.isfinite(logits[:, :3]).all()
    # two classes: sklearn's one binary score, split into two halves whose softmax is its sigmoid
    from sklearn.linear_model import LogisticRegression

    two = train_y < 2
    binary = fit_linear_probe(train_x[two], train_y[two], seed=0)
    scores = binary.logits(test_x, n_classes=4)
    reference = LogisticRegression(random_state=0, max_iter=1000).fit(
        (train_x[two] - binary.mean) / binary.scale, train_y[two]
    )
    np.testing.assert_allclose(
        scores[:, 1] - scores[:, 0],
        reference.decision_function((test_x - binary.mean) / binary.scale),
        atol=1e-6,
    )
    assert np.isneginf(scores[:, 2:]).all()

"""The baselines the k-NN score was compared with: a class-conditional Mahalanobis distance with
a shrunk shared covariance, and the maximum softmax probability; and AUROC to compare them.

Separate because nothing in prediction uses them: they are here for the benchmarks and tests.
"""

from __future__ import annotations

import numpy as np

from facevlm.evaluation.familiarity.knn import l2_normalise


def mahalanobis_scores(
    train_embeddings: np.ndarray,
    train_labels: np.ndarray,
    queries: np.ndarray,
    shrinkage: float = 0.5,
) -> np.ndarray:
    """Minimum over classes of the Mahalanobis distance to the class mean (Lee et al. 2018),
    with one covariance shared by the classes and shrunk towards its mean variance:
    ``(1 - s) S + s tr(S)/D I`` (with fewer samples than dimensions ``S`` is singular)."""
    x = l2_normalise(train_embeddings).astype(np.float64)
    q = l2_normalise(np.atleast_2d(queries)).astype(np.float64)
    labels = np.asarray(train_labels)
    classes = np.unique(labels)
    means = np.stack([x[labels == c].mean(axis=0) for c in classes])
    centred = x - means[np.searchsorted(classes, labels)]
    cov = centred.T @ centred / max(len(x) - len(classes), 1)
    dim = cov.shape[0]
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / dim * np.eye(dim)
    precision = np.linalg.inv(cov)
    diff = q[:, None, :] - means[None]  # (Q, C, D)
    distance = np.einsum("qcd,de,qce->qc", diff, precision, diff)
    return distance.min(axis=1)


def max_softmax_scores(probabilities: np.ndarray) -> np.ndarray:
    """``1 -`` the top class probability (Hendrycks & Gimpel 2017): higher is less familiar."""
    return 1.0 - np.asarray(probabilities, dtype=np.float64).max(axis=-1)


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Probability that an out-of-distribution input scores higher than an in-distribution
    one (ties count half): 0.5 is no separation, 1.0 perfect."""
    a = np.asarray(in_scores, np.float64).ravel()
    b = np.asarray(out_scores, np.float64).ravel()
    greater = (b[:, None] > a[None, :]).mean()
    ties = (b[:, None] == a[None, :]).mean()
    return float(greater + 0.5 * ties)

"""The k-NN score itself: cosine distance to the ``k``-th nearest training embedding, the
training set's own neighbour scale, and the neighbour rank for a training set's size.

Separate from the statistics built on it (:mod:`.single_space`, :mod:`.joint`): this is the
measurement, numpy only, on any two sets of embeddings.
"""

from __future__ import annotations

import numpy as np

#: Neighbour rank of the score for a fold's training set (Sun et al.: small k for small sets).
DEFAULT_K = 10
_CHUNK = 1024  # queries per distance block (bounds memory at CHUNK x N floats)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def knn_distance(reference: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """``(Q,)`` cosine distance of each query to its ``k``-th nearest ``reference`` row.

    Both are L2-normalised here, so callers may pass raw embeddings. ``k`` is capped at the
    number of reference rows.
    """
    reference = l2_normalise(reference)
    queries = l2_normalise(np.atleast_2d(queries))
    if len(reference) == 0:
        raise ValueError("knn_distance needs at least one reference embedding")
    k = int(min(max(int(k), 1), len(reference)))
    out = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), _CHUNK):
        distance = 1.0 - queries[start : start + _CHUNK] @ reference.T  # (q, N)
        out[start : start + _CHUNK] = np.partition(distance, k - 1, axis=1)[:, k - 1]
    return out


def neighbour_scale(embeddings: np.ndarray, k: int) -> float:
    """The median over ``embeddings`` of the cosine distance to their ``k``-th nearest other
    embedding (each left out of its own neighbours): the typical neighbour distance of a
    training set in its model's embedding space."""
    if len(embeddings) < 2:
        return 1.0
    k = min(int(k), len(embeddings) - 1)
    distance = knn_distance(embeddings, embeddings, k + 1)  # the first neighbour is itself
    return float(max(np.median(distance), 1e-6))


def fold_k(n_train: int, k: int = DEFAULT_K) -> int:
    """The neighbour rank used for a fold's training set of ``n_train`` embeddings."""
    return int(max(1, min(int(k), int(n_train))))


def scaled_k(k_fold: int, n_fold_train: float, n_final: int) -> int:
    """``k`` for a training set of ``n_final`` embeddings that matches ``k_fold`` among
    ``n_fold_train``: the k-th neighbour then encloses the same fraction ``k / n`` of the
    training distribution, so its distance is comparable with the fold scores."""
    if n_fold_train <= 0:
        return fold_k(n_final, k_fold)
    return fold_k(n_final, round(k_fold * n_final / n_fold_train))

"""One feature space's statistics: a fold's held-out scores (:class:`FoldScores`), and what a
model stores to judge an input in that space (:class:`Familiarity`, :func:`build_familiarity`:
training embeddings, scaled ``k``, neighbour scale, reference scores, threshold).

Separate from :mod:`.joint`, which combines several such spaces into one score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facevlm.evaluation.familiarity.knn import (
    DEFAULT_K,
    fold_k,
    knn_distance,
    l2_normalise,
    neighbour_scale,
    scaled_k,
)
from facevlm.evaluation.familiarity.yardstick import FAMILIAR_RATE, familiarity_of, threshold_for

#: The score's name, stored with the statistics so that a reader knows what they mean.
METHOD = "knn_cosine"


@dataclass
class FoldScores:
    """One fold's held-out k-NN distances, the neighbour rank and training-set size behind
    them, and its training set's neighbour scale (:func:`neighbour_scale`)."""

    distances: np.ndarray  # (n_test,) raw k-NN distances of the held-out embeddings
    k: int
    n_train: int
    scale: float = 1.0

    @property
    def scores(self) -> np.ndarray:
        """The held-out scores: distances in units of the fold's neighbour scale."""
        return np.asarray(self.distances, np.float32) / np.float32(self.scale)

    def as_dict(self) -> dict[str, Any]:
        return {
            "distances": np.asarray(self.distances, np.float32),
            "k": self.k,
            "n_train": self.n_train,
            "scale": float(self.scale),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> FoldScores:
        return cls(
            np.asarray(value["distances"], np.float32),
            int(value["k"]),
            int(value["n_train"]),
            float(value.get("scale", 1.0)),
        )


def fold_scores(
    train_embeddings: np.ndarray, test_embeddings: np.ndarray, k: int = DEFAULT_K
) -> FoldScores:
    """The held-out scores of one cross-validation fold: its test embeddings against its own
    training embeddings (both from that fold's model)."""
    k = fold_k(len(train_embeddings), k)
    distances = knn_distance(train_embeddings, test_embeddings, k)
    scale = neighbour_scale(train_embeddings, k)
    return FoldScores(distances, k, len(train_embeddings), scale)


@dataclass
class Familiarity:
    """The statistics a model needs to say how familiar an input is (stored in its bundle)."""

    train_embeddings: np.ndarray  # (N, D) L2-normalised fused embeddings of its training set
    k: int  # neighbour rank for this training set (scaled from the folds' k)
    reference_scores: np.ndarray  # sorted held-out scores of the folds
    threshold: float  # familiar iff score <= threshold
    modality: str | None = None  # render modality of the training data: texture, texture+shaded
    rate: float = FAMILIAR_RATE
    method: str = METHOD
    scale: float = 1.0  # neighbour_scale of the training embeddings with this k

    @property
    def modalities(self) -> tuple[str, ...]:
        """The render modalities of the training data (``texture+shaded``: both; the training
        embeddings and the held-out yardstick then hold renders of each)."""
        return tuple(self.modality.split("+")) if self.modality else ()

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """``(Q,)`` k-NN distances of ``(Q, D)`` embeddings to the training embeddings, in
        units of the training set's neighbour scale."""
        return knn_distance(self.train_embeddings, embeddings, self.k) / np.float32(self.scale)

    def assess(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(scores, familiarity, familiar)`` of ``(Q, D)`` embeddings."""
        scores = self.scores(embeddings)
        return scores, self.familiarity(scores), self.familiar(scores)

    def familiarity(self, scores: np.ndarray) -> np.ndarray:
        return familiarity_of(scores, self.reference_scores)

    def familiar(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) <= self.threshold

    def as_dict(self) -> dict[str, Any]:
        """Plain data (numpy arrays; the bundle turns them into tensors). The training
        embeddings are float16: half the size, and cosine distances lose ~1e-3 at most."""
        return {
            "method": self.method,
            "train_embeddings": np.asarray(self.train_embeddings, np.float16),
            "k": int(self.k),
            "reference_scores": np.asarray(self.reference_scores, np.float32),
            "threshold": float(self.threshold),
            "rate": float(self.rate),
            "modality": self.modality,
            "scale": float(self.scale),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Familiarity:
        """From :meth:`as_dict`'s content (numpy arrays or CPU tensors)."""
        method = value.get("method", METHOD)
        if method != METHOD:
            raise ValueError(f"familiarity method {method!r} is not known (expected {METHOD!r})")
        embeddings = np.asarray(value["train_embeddings"], dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise ValueError("familiarity train_embeddings must be a non-empty (N, D) array")
        return cls(
            train_embeddings=l2_normalise(embeddings),
            k=int(value["k"]),
            reference_scores=np.sort(np.asarray(value["reference_scores"], np.float32)),
            threshold=float(value["threshold"]),
            modality=value.get("modality"),
            rate=float(value.get("rate", FAMILIAR_RATE)),
            scale=float(value.get("scale", 1.0)),
        )


def build_familiarity(
    train_embeddings: np.ndarray,
    folds: Sequence[FoldScores],
    modality: str | None = None,
    rate: float = FAMILIAR_RATE,
) -> Familiarity:
    """The statistics of a model trained on ``train_embeddings``, with the held-out ``folds``
    of cross-validation as the yardstick. The folds' ``k`` is scaled to this training set's
    size (see the module docstring); folds with different ``k`` (folds of unequal size) use
    their mean."""
    if not folds:
        raise ValueError("build_familiarity needs the held-out scores of at least one fold")
    reference = np.sort(np.concatenate([np.asarray(f.scores, np.float32) for f in folds]))
    k_fold = float(np.mean([f.k for f in folds]))
    n_fold = float(np.mean([f.n_train for f in folds]))
    k = scaled_k(round(k_fold), n_fold, len(train_embeddings))
    # as stored (float16) and loaded: the scale is that of the embeddings predictions use
    stored = l2_normalise(l2_normalise(train_embeddings).astype(np.float16))
    return Familiarity(
        train_embeddings=stored,
        k=k,
        scale=neighbour_scale(stored, k),
        reference_scores=reference,
        threshold=threshold_for(reference, rate),
        modality=modality,
        rate=rate,
    )

"""Several feature spaces (the fused embedding, the views' appearance and edges): per-space
scores in units of each space's threshold, the joint score (the largest of them) and its own
threshold set on the held-out scans (:class:`JointFamiliarity`, what a model bundle stores).

Separate from :mod:`.single_space`: it combines finished per-space statistics and reads fold
results saved before there were several spaces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facevlm.evaluation.familiarity.single_space import (
    METHOD,
    Familiarity,
    FoldScores,
    build_familiarity,
    fold_scores,
)
from facevlm.evaluation.familiarity.yardstick import FAMILIAR_RATE, familiarity_of, threshold_for

#: The feature spaces, by the name under which fold results and bundles store them: the fused
#: embedding the classifier reads, the views' appearance (the image tower's early stage) and
#: their edges (the views drawn as outlines and creases, no model involved).
EMBEDDING = "embedding"
APPEARANCE = "appearance"
EDGES = "edges"
SPACES = (EMBEDDING, APPEARANCE, EDGES)
#: What an unfamiliar input is said to be unlike, by the space where it is strangest.
UNLIKE = {
    EMBEDDING: "unlike the scans the model was trained on",
    APPEARANCE: "its renders look unlike the model's training renders",
    EDGES: "its face's outlines and creases are unlike those of the model's training faces",
}
JOINT_METHOD = "knn_cosine_joint"


def fold_spaces(recorded: Mapping[str, Any]) -> dict[str, FoldScores]:
    """A fold's recorded held-out scores by feature space. A fold result saved before there
    were several spaces holds the embedding's scores alone, at the top level."""
    if "distances" in recorded:
        return {EMBEDDING: FoldScores.from_dict(recorded)}
    return {space: FoldScores.from_dict(value) for space, value in recorded.items()}


def fold_scores_by_space(
    train: Mapping[str, np.ndarray | None], test: Mapping[str, np.ndarray | None]
) -> dict[str, dict[str, Any]]:
    """One fold's held-out scores in every space both sides have features of (plain data)."""
    return {
        space: fold_scores(train[space], test[space]).as_dict()
        for space in SPACES
        if train.get(space) is not None and test.get(space) is not None
    }


def relative_scores(
    spaces: Mapping[str, Familiarity], scores: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each space's ``scores`` (``{space: (Q,)}``) in units of that space's threshold."""
    return {
        space: np.asarray(scores[space], np.float64) / max(stats.threshold, 1e-12)
        for space, stats in spaces.items()
    }


def joint_scores(spaces: Mapping[str, Familiarity], scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(Q,)`` the largest per-space score of each input in units of its space's threshold."""
    return np.max(np.stack(list(relative_scores(spaces, scores).values())), axis=0)


@dataclass
class JointFamiliarity:
    """How familiar an input is in every feature space a model has statistics for (see the
    module docstring): what a model bundle stores and the predictor asks. Joint scores are
    per-space scores over the space's threshold, the largest of them; higher is stranger."""

    spaces: dict[str, Familiarity]  # per-space statistics; EMBEDDING always
    reference: np.ndarray  # sorted joint scores of the folds' held-out scans
    threshold: float  # familiar iff joint score <= threshold
    modality: str | None = None
    rate: float = FAMILIAR_RATE

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.modality.split("+")) if self.modality else ()

    def relative(self, scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each space's ``scores`` (``{space: (Q,)}``) in units of that space's threshold."""
        return relative_scores(self.spaces, scores)

    def joint(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """``(Q,)`` the joint score: the largest relative per-space score of each input."""
        return joint_scores(self.spaces, scores)

    def familiarity(self, joint: np.ndarray) -> np.ndarray:
        """Fraction of held-out scans whose joint score is higher (less familiar)."""
        return familiarity_of(joint, self.reference)

    def familiar(self, joint: np.ndarray) -> np.ndarray:
        return np.asarray(joint) <= self.threshold

    def strangest(self, scores: Mapping[str, np.ndarray]) -> list[str]:
        """The space in which each input is least familiar (what to tell the user)."""
        relative = self.relative(scores)
        names = list(relative)
        return [names[i] for i in np.argmax(np.stack(list(relative.values())), axis=0)]

    def scores(self, features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-space k-NN scores of inputs with ``(Q, D)`` features in every space."""
        return {space: stats.scores(features[space]) for space, stats in self.spaces.items()}

    def assess(self, features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(familiarity, familiar)`` of inputs with ``(Q, D)`` features in every space."""
        joint = self.joint(self.scores(features))
        return self.familiarity(joint), self.familiar(joint)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": JOINT_METHOD,
            "spaces": {space: stats.as_dict() for space, stats in self.spaces.items()},
            "reference": np.asarray(self.reference, np.float32),
            "threshold": float(self.threshold),
            "rate": float(self.rate),
            "modality": self.modality,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> JointFamiliarity:
        """From :meth:`as_dict`'s content, or from a single space's statistics (a bundle
        saved before there were several spaces: judged by its embedding alone, as then)."""
        if value.get("method", METHOD) == METHOD:
            single = Familiarity.from_dict(value)
            held_out = [single.reference_scores[:, None]]
            return joint_familiarity({EMBEDDING: single}, held_out, single.modality, single.rate)
        if value["method"] != JOINT_METHOD:
            raise ValueError(
                f"familiarity method {value['method']!r} is not known"
                f" (expected {METHOD!r} or {JOINT_METHOD!r})"
            )
        spaces = {space: Familiarity.from_dict(v) for space, v in value["spaces"].items()}
        if EMBEDDING not in spaces:
            raise ValueError("familiarity statistics need the embedding space")
        return cls(
            spaces=spaces,
            reference=np.sort(np.asarray(value["reference"], np.float64)),
            threshold=float(value["threshold"]),
            modality=value.get("modality"),
            rate=float(value.get("rate", FAMILIAR_RATE)),
        )


def joint_familiarity(
    spaces: Mapping[str, Familiarity],
    held_out: Sequence[np.ndarray],
    modality: str | None = None,
    rate: float = FAMILIAR_RATE,
) -> JointFamiliarity:
    """The joint statistics of per-space ``spaces``; ``held_out``: per fold, a ``(n, S)``
    array of its held-out scans' scores in the spaces' order (one row per scan)."""
    names = list(spaces)
    joint = np.concatenate(
        [joint_scores(spaces, {s: fold[:, j] for j, s in enumerate(names)}) for fold in held_out]
    )
    return JointFamiliarity(
        spaces=dict(spaces),
        reference=np.sort(joint),
        threshold=threshold_for(joint, rate),
        modality=modality,
        rate=rate,
    )


def build_joint_familiarity(
    train_features: Mapping[str, np.ndarray | None],
    folds: Sequence[Mapping[str, Any]],
    modality: str | None = None,
    rate: float = FAMILIAR_RATE,
) -> JointFamiliarity:
    """The statistics of a model trained on ``train_features`` (``{space: (N, D)}``), with the
    held-out scores the cross-validation folds recorded (``FOLD_FAMILIARITY`` values) as the
    yardstick. A space is used when the training set and every fold have it."""
    if not folds:
        raise ValueError("build_joint_familiarity needs the held-out scores of at least one fold")
    by_fold = [fold_spaces(f) for f in folds]
    names = [
        space
        for space in SPACES
        if train_features.get(space) is not None and all(space in f for f in by_fold)
    ]
    if EMBEDDING not in names:
        raise ValueError("familiarity needs the embedding space's features and fold scores")
    spaces = {
        space: build_familiarity(train_features[space], [f[space] for f in by_fold], None, rate)
        for space in names
    }
    held_out = [np.stack([f[space].scores for space in names], axis=1) for f in by_fold]
    return joint_familiarity(spaces, held_out, modality, rate)

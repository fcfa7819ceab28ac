"""The face reader's head: a logistic regression from the Face Landmarker's 51 blend-shape
scores to an expression, stored as plain numbers.

Why a linear head on blend shapes: the scores already name facial actions (a smile is
``mouthSmileLeft`` + ``mouthSmileRight``, surprise ``browInnerUp`` + ``eyeWide*`` +
``jawOpen``), so a few hundred renders are enough to learn which actions make which expression,
and a linear map cannot learn the renders' own look (identity, lighting, mesh density) the way
an image model can.

Why on the scores' log-odds: a score is the landmarker's confidence in [0, 1], and most of a
face's scores sit near 0, where a faint action (0.02 → 0.15, a lip starting to rise) is as much
evidence as a strong one moving 0.5 → 0.9. On log-odds a linear head weighs both alike; on the
raw scores it all but ignores the faint ones. Measured on a default run's held-out folds (the
figures are in docs/methods.md, "When the product answers"), the reader is right more often on
log-odds and the product answers more of the faces at the same accuracy. It is trained on the run's own frontal renders, with ``neutral`` as a class
of its own when the renders hold resting faces: a face it reads as resting is then no grounds
for any of the model's emotions.

Stored as plain lists (``to_dict``) so that a model bundle can carry it (``torch.load`` with
``weights_only``) and a person can read it; scikit-learn fits it, numpy applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES

#: The class a resting face is read as (the render sets' label for it).
NEUTRAL = "neutral"
#: What the head's linear map reads: the scores as the landmarker gives them, or their log-odds.
RAW_SCORES, LOG_ODDS = "scores", "log_odds"
FEATURES = (RAW_SCORES, LOG_ODDS)
#: Keeps a score of exactly 0 or 1 finite on log-odds: 0.01 is below every score a face moves
#: for an action it shows, and above the landmarker's floor for actions it does not.
LOG_ODDS_FLOOR = 0.01


def checked_features(features: str) -> str:
    """``features`` when it is one of :data:`FEATURES`; raises ValueError otherwise."""
    if features not in FEATURES:
        raise ValueError(
            f"face reader features must be {RAW_SCORES!r} or {LOG_ODDS!r}, got {features!r}"
        )
    return features


def head_inputs(scores: np.ndarray, features: str) -> np.ndarray:
    """The ``(N, 51)`` numbers a head of ``features`` reads from the landmarker's scores."""
    scores = np.asarray(scores, np.float64)
    if checked_features(features) == RAW_SCORES:
        return scores
    clipped = np.clip(scores, 0.0, 1.0)
    return np.log((clipped + LOG_ODDS_FLOOR) / (1.0 + LOG_ODDS_FLOOR - clipped))


@dataclass
class FaceReaderHead:
    """The 51 scores as ``features`` says (:func:`head_inputs`), standardised, then a
    multinomial logistic regression over ``classes``. ``mean`` and ``scale`` are those of the
    features, not of the raw scores."""

    classes: list[str]
    mean: np.ndarray  # (51,)
    scale: np.ndarray  # (51,)
    weight: np.ndarray  # (K, 51)
    bias: np.ndarray  # (K,)
    inputs: tuple[str, ...] = BLENDSHAPE_NAMES
    #: :data:`RAW_SCORES` or :data:`LOG_ODDS`; a record without it (a bundle made before the
    #: head read log-odds) was fitted on the raw scores.
    features: str = RAW_SCORES

    @classmethod
    def fit(
        cls,
        scores: np.ndarray,
        labels: list[str] | np.ndarray,
        c: float = 1.0,
        features: str = LOG_ODDS,
    ) -> FaceReaderHead:
        """Fit on ``(N, 51)`` scores and their ``N`` labels (rows with NaN scores, faces the
        landmarker did not find, are left out). ``c``: scikit-learn's inverse regularisation;
        ``features``: what the linear map reads (:func:`head_inputs`)."""
        from sklearn.linear_model import LogisticRegression

        scores, labels = np.asarray(scores, np.float64), np.asarray(labels, dtype=object)
        found = ~np.isnan(scores).any(axis=1)
        scores, labels = head_inputs(scores[found], features), labels[found]
        classes = sorted(set(labels.tolist()))
        if len(classes) < 2:
            raise ValueError(f"the face reader needs at least two classes to learn, got {classes}")
        mean = scores.mean(axis=0)
        scale = scores.std(axis=0)
        scale[scale < 1e-6] = 1.0  # a score no training face moves: left as it is
        regression = LogisticRegression(C=float(c), max_iter=5000)
        regression.fit((scores - mean) / scale, labels)
        order = [list(regression.classes_).index(k) for k in classes]
        weight, bias = regression.coef_, regression.intercept_
        if len(classes) == 2:  # scikit-learn keeps one row for two classes: make it two
            weight, bias = (
                np.vstack([-weight[0] / 2, weight[0] / 2]),
                np.array([-bias[0], bias[0]]) / 2,
            )
        return cls(classes, mean, scale, weight[order], bias[order], features=features)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """``(N, 51)`` → ``(N, K)`` probabilities over :attr:`classes`; NaN rows stay NaN."""
        z = (head_inputs(scores, self.features) - self.mean) / self.scale
        logits = z @ self.weight.T + self.bias
        found = ~np.isnan(logits).any(axis=1)
        out = np.full(logits.shape, np.nan)
        shifted = logits[found] - logits[found].max(axis=1, keepdims=True)
        p = np.exp(shifted)
        out[found] = p / p.sum(axis=1, keepdims=True)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "inputs": list(self.inputs),
            "features": self.features,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weight": self.weight.tolist(),
            "bias": self.bias.tolist(),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> FaceReaderHead:
        inputs = tuple(record.get("inputs", BLENDSHAPE_NAMES))
        if inputs != BLENDSHAPE_NAMES:
            raise ValueError(
                "the face reader was trained on other landmarker scores than this version reads"
            )
        head = cls(
            list(record["classes"]),
            np.asarray(record["mean"], np.float64),
            np.asarray(record["scale"], np.float64),
            np.asarray(record["weight"], np.float64),
            np.asarray(record["bias"], np.float64),
            features=checked_features(str(record.get("features", RAW_SCORES))),
        )
        k, d = len(head.classes), len(BLENDSHAPE_NAMES)
        shapes = {"mean": (d,), "scale": (d,), "weight": (k, d), "bias": (k,)}
        for name, shape in shapes.items():
            if getattr(head, name).shape != shape:
                raise ValueError(
                    f"face reader {name} has shape {getattr(head, name).shape}, not {shape}"
                )
        return head

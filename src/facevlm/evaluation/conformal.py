"""Sets of answers with a promised coverage: split conformal prediction on calibrated probabilities.

A top answer with a probability says nothing a user can hold the model to. A *set* of answers
that holds the true expression with a chosen probability (the *coverage*, 90% by default) does:
a scan the model is sure of gets one emotion, an ambiguous one two or three, and a scan it cannot
read gets most or all of them, which is the honest answer.

**Split conformal prediction** (Vovk et al. 2005; Angelopoulos & Bates 2021, "A gentle
introduction to conformal prediction"): on ``n`` calibration samples the model never trained on,
compute a *nonconformity score* ``s(x, y)`` of each sample with its true class; the threshold
``q`` is the ``ceil((n + 1) * coverage)``-th smallest of them; a new input's set is every class
``y`` with ``s(x, y) <= q``. If the new input and the calibration samples are exchangeable (drawn
alike), the set holds its true class with probability at least ``coverage`` and, when the scores
have no ties, at most ``coverage + 1 / (n + 1)``, whatever the model: the guarantee needs no
assumption about how good the probabilities are, only that they were not fitted on the
calibration samples. Here those are the out-of-fold predictions cross-validation already makes
(each held-out fold scored by a model that never saw it), the same rows the temperature is fitted
on, so the sets cost no data and no training. Two scores:

- ``lac`` (default; Sadinle, Lei & Wasserman 2019, "least ambiguous set-valued classifiers"):
  ``1 - p(y)``, the set every class whose probability is at least ``1 - q``. It gives the smallest
  sets on average, which is what a person reading them wants;
- ``aps`` (Romano, Sesia & Candès 2020, adaptive prediction sets, without randomisation): the
  probability mass of the classes ranked at or above ``y``; the set is the most probable classes
  until their mass reaches ``q``. Sets grow with how spread out the probabilities are, at the
  cost of larger sets on average.

The probabilities are the calibrated ones (the logits over the head's temperature): the sets do
not need it for their guarantee, but the model's most probable class is always put in its set
(a set never comes out empty, and adding a class can only raise coverage), and the threshold is
then on the same probabilities the user is shown.

The guarantee holds for inputs like the calibration samples. For an input the familiarity flag
calls unfamiliar it does not, and the predictor gives every class (:mod:`facevlm.inference`).

numpy only (no torch, no Kedro): the scores are stored in the model bundle as plain floats, and
the threshold for any coverage is computed from them when predicting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

LAC = "lac"
APS = "aps"
METHODS = (LAC, APS)
#: The coverage a set promises unless the caller chooses another.
DEFAULT_COVERAGE = 0.9
#: The most classes a set may hold for the model to give an answer: a larger set means the scan
#: is too ambiguous for it to tell (the predictor then abstains).
MAX_ANSWERS = 3
#: Key of a bundle's ``calibration`` record that holds the sets' calibration scores.
RECORD_KEY = "conformal"


def check_coverage(coverage: float) -> float:
    c = float(coverage)
    if not (math.isfinite(c) and 0.0 < c < 1.0):
        raise ValueError(f"coverage must lie strictly between 0 and 1, got {coverage!r}")
    return c


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"conformal method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def _probabilities(probabilities: ArrayLike) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise ValueError(f"probabilities must be (N, C) with C >= 1, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probabilities must be finite and non-negative")
    return p


def class_scores(probabilities: ArrayLike, method: str = LAC) -> np.ndarray:
    """``(N, C)``: the nonconformity score each class would have if it were the true one."""
    p = _probabilities(probabilities)
    if _check_method(method) == LAC:
        return 1.0 - p
    order = np.argsort(-p, axis=1, kind="stable")  # most probable first; ties keep class order
    mass = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)
    scores = np.empty_like(p)
    np.put_along_axis(scores, order, mass, axis=1)
    return scores


def nonconformity(probabilities: ArrayLike, labels: ArrayLike, method: str = LAC) -> np.ndarray:
    """``(N,)``: each sample's score with its true class (what calibration sorts)."""
    scores = class_scores(probabilities, method)
    y = np.asarray(labels)
    if y.shape != (len(scores),) or (len(y) and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"labels must be ({len(scores)},) class indices, got {y.shape} {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in [0, {scores.shape[1]})")
    return scores[np.arange(len(y)), y]


def threshold(scores: ArrayLike, coverage: float = DEFAULT_COVERAGE) -> float:
    """The ``ceil((n + 1) * coverage)``-th smallest of ``n`` calibration scores: ``inf`` (every
    class in every set) when there are too few of them to promise ``coverage``."""
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    rank = math.ceil((len(s) + 1) * check_coverage(coverage))
    return math.inf if rank > len(s) else float(s[rank - 1])


def prediction_sets(
    probabilities: ArrayLike, cutoff: float, method: str = LAC, include_top: bool = True
) -> np.ndarray:
    """``(N, C)`` booleans: the classes in each input's set at threshold ``cutoff``; with
    ``include_top`` the most probable class is always among them."""
    p = _probabilities(probabilities)
    sets = class_scores(p, method) <= cutoff
    if include_top and len(p):
        sets[np.arange(len(p)), p.argmax(axis=1)] = True
    return sets


def cross_fold_sets(
    probabilities_by_fold: Sequence[ArrayLike],
    labels_by_fold: Sequence[ArrayLike],
    coverage: float = DEFAULT_COVERAGE,
    method: str = LAC,
) -> np.ndarray:
    """Each fold's held-out sets with the threshold of the *other* folds' scores, stacked over
    folds: what the final model's sets would be on subjects it never saw, measured without
    scoring a set with a threshold fitted on its own row. One fold: every class (no other
    fold to calibrate on)."""
    folds = [_probabilities(p) for p in probabilities_by_fold]
    scores = [nonconformity(p, y, method) for p, y in zip(folds, labels_by_fold, strict=True)]
    out = []
    for k, p in enumerate(folds):
        others = [s for j, s in enumerate(scores) if j != k]
        cutoff = threshold(np.concatenate(others), coverage) if others else math.inf
        out.append(prediction_sets(p, cutoff, method))
    return np.concatenate(out) if out else np.zeros((0, 0), bool)


@dataclass(frozen=True)
class ConformalScores:
    """The sorted calibration scores of each classifier head, and the coverage promised unless
    the caller asks for another: what a bundle stores (:meth:`as_dict`)."""

    method: str
    coverage: float
    scores: Mapping[str, np.ndarray]  # head -> (n,) sorted scores

    def threshold(self, head: str, coverage: float | None = None) -> float | None:
        """The cut-off of ``head``'s sets at ``coverage`` (default: the recorded one); None for
        a head without scores."""
        if head not in self.scores:
            return None
        return threshold(self.scores[head], self.coverage if coverage is None else coverage)

    def sets(self, head: str, probabilities: ArrayLike, coverage: float | None = None):
        """``(N, C)`` booleans of ``head``'s sets; None for a head without scores."""
        cutoff = self.threshold(head, coverage)
        return None if cutoff is None else prediction_sets(probabilities, cutoff, self.method)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "coverage": float(self.coverage),
            "scores": {h: [float(v) for v in s] for h, s in self.scores.items()},
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> ConformalScores:
        """Read a stored record; ``ValueError`` naming what is wrong with a malformed one."""
        if not isinstance(record, Mapping):
            raise ValueError(f"conformal record must be a mapping, got {type(record).__name__}")
        scores = record.get("scores")
        if not isinstance(scores, Mapping):
            raise ValueError("conformal record needs a {head: scores} mapping under 'scores'")
        checked = {}
        for head, values in scores.items():
            s = np.sort(np.asarray(values, dtype=np.float64).ravel())
            if not len(s) or not np.isfinite(s).all():
                raise ValueError(f"conformal scores of {head!r} must be finite and non-empty")
            checked[str(head)] = s
        return cls(
            _check_method(record.get("method")), check_coverage(record.get("coverage")), checked
        )


def calibrate(
    probabilities_by_head: Mapping[str, tuple[ArrayLike, ArrayLike]],
    coverage: float = DEFAULT_COVERAGE,
    method: str = LAC,
) -> ConformalScores:
    """The conformal scores of each head from its held-out ``(probabilities, labels)``."""
    return ConformalScores(
        _check_method(method),
        check_coverage(coverage),
        {h: np.sort(nonconformity(p, y, method)) for h, (p, y) in probabilities_by_head.items()},
    )


def from_calibration(calibration: Mapping[str, Any] | None) -> ConformalScores | None:
    """The sets' scores of a bundle's ``calibration`` record; None when it has none (saved
    before sets existed, or trained without held-out logits)."""
    if calibration is None or not isinstance(calibration, Mapping):
        return None
    record = calibration.get(RECORD_KEY)
    return None if record is None else ConformalScores.from_dict(record)

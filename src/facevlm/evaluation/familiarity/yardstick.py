"""The held-out yardstick: the threshold that keeps ``rate`` of the reference (held-out,
in-distribution) scores familiar, and an input's familiarity as the fraction of reference scores
above its own.

Separate because the same two rules turn scores into answers in one feature space
(:mod:`.single_space`) and for the joint score of several (:mod:`.joint`).
"""

from __future__ import annotations

import numpy as np

#: Fraction of held-out in-distribution scans the threshold keeps familiar.
FAMILIAR_RATE = 0.99


def threshold_for(reference_scores: np.ndarray, rate: float = FAMILIAR_RATE) -> float:
    """The smallest reference score that at least ``rate`` of the reference scores do not
    exceed (the empirical ``rate`` quantile, rounded up to an observed score): inputs scoring
    at most this are familiar, so at least ``rate`` of held-out scans are."""
    scores = np.sort(np.asarray(reference_scores, dtype=np.float64).ravel())
    if scores.size == 0:
        raise ValueError("threshold_for needs at least one reference score")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    index = int(np.ceil(rate * scores.size)) - 1
    return float(scores[min(max(index, 0), scores.size - 1)])


def familiarity_of(scores: np.ndarray, reference_scores: np.ndarray) -> np.ndarray:
    """Fraction of ``reference_scores`` strictly greater than each score (less familiar than
    the input), in ``[0, 1]``."""
    reference = np.sort(np.asarray(reference_scores, dtype=np.float64).ravel())
    scores = np.asarray(scores, dtype=np.float64)
    at_most = np.searchsorted(reference, scores, side="right")
    return (reference.size - at_most) / reference.size

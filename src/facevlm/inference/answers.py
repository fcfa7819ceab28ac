"""The set of answers a prediction gives: the classes that hold the true one with the chosen
coverage (:mod:`facevlm.evaluation.conformal`), calibrated on the held-out folds.

The coverage is promised for inputs like the held-out scans the sets were calibrated on; for an
input the familiarity flag calls unfamiliar nothing is promised, and the honest set is every
class. The prediction then says it cannot tell (:attr:`~facevlm.inference.prediction.Prediction.
abstained`), as it does when the set holds more classes than a person can act on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facevlm.evaluation.conformal import ConformalScores


def answer_set(
    scores: ConformalScores | None,
    head: str,
    probabilities: np.ndarray,
    classes: list[str],
    coverage: float | None,
    familiar: bool | None,
) -> dict[str, Any]:
    """``{"prediction_set": [class, ...] most probable first, "coverage": c}`` of the ``(C,)``
    ``probabilities`` of ``head``; every class when ``familiar`` is False. Both None without
    calibration scores for ``head`` (a bundle saved before sets existed)."""
    members = None if scores is None else scores.sets(head, probabilities[None], coverage)
    if members is None:
        return {"prediction_set": None, "coverage": None}
    if familiar is False:
        members[:] = True
    order = np.argsort(-probabilities, kind="stable")
    return {
        "prediction_set": [classes[i] for i in order if members[0, i]],
        "coverage": scores.coverage if coverage is None else float(coverage),
    }

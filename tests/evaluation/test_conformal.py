"""Sets of answers with a promised coverage (split conformal prediction).

Specification:

- on exchangeable synthetic data the sets hold the true class at least ``coverage`` of the time
  and, without the forced top class and with continuous scores, at most ``coverage + 1/(n+1)``,
  whether the probabilities are calibrated or five times too sure (the guarantee needs neither),
  for both scores (``lac``: ``1 - p(y)``; ``aps``: the mass of the classes ranked at or above y);
- a sure input gets one class, an ambiguous one the two or three it hesitates between, and too
  few calibration rows to promise the coverage give every class;
- each fold's held-out sets are cut at the other folds' threshold, never its own;
- the record a bundle stores round-trips as plain data; a malformed one is refused with the
  reason.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from facevlm.evaluation import conformal

N_CLASSES = 6


def _draw(rng, n: int, sharpen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` inputs whose true class is drawn from their own class probabilities; the model
    reports those probabilities raised to ``sharpen`` (1: calibrated; 5: far too sure)."""
    truth = rng.dirichlet(np.full(N_CLASSES, 0.5), size=n)
    labels = (rng.random((n, 1)) > truth.cumsum(axis=1)).sum(axis=1).clip(max=N_CLASSES - 1)
    shown = truth**sharpen
    return shown / shown.sum(axis=1, keepdims=True), labels


@pytest.mark.parametrize("method", conformal.METHODS)
@pytest.mark.parametrize("sharpen", [1.0, 5.0])
@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_the_sets_hold_the_truth_as_often_as_promised(method, sharpen, coverage):
    rng = np.random.default_rng(7)
    n_calibration, trials = 99, 300
    held, held_raw = [], []
    for _ in range(trials):
        p_cal, y_cal = _draw(rng, n_calibration, sharpen)
        p_new, y_new = _draw(rng, 200, sharpen)
        cutoff = conformal.threshold(conformal.nonconformity(p_cal, y_cal, method), coverage)
        rows = np.arange(len(y_new))
        sets = conformal.prediction_sets(p_new, cutoff, method)
        raw = conformal.prediction_sets(p_new, cutoff, method, include_top=False)
        held.append(sets[rows, y_new].mean())
        held_raw.append(raw[rows, y_new].mean())
    # averaged over 300 calibration draws: the standard error is about 0.002
    assert np.mean(held) >= coverage - 0.01
    assert coverage - 0.01 <= np.mean(held_raw) <= coverage + 1 / (n_calibration + 1) + 0.01
    assert np.mean(held) >= np.mean(held_raw), "the forced top class only adds coverage"


def test_a_sure_input_gets_one_class_an_ambiguous_one_two_or_three():
    rng = np.random.default_rng(0)
    p_cal, y_cal = _draw(rng, 500)
    cutoff = conformal.threshold(conformal.nonconformity(p_cal, y_cal), 0.9)
    sure = np.array([[0.97, 0.01, 0.01, 0.005, 0.003, 0.002]])
    torn = np.array([[0.45, 0.42, 0.05, 0.04, 0.02, 0.02]])
    spread = np.full((1, N_CLASSES), 1 / N_CLASSES)
    assert conformal.prediction_sets(sure, cutoff).sum() == 1
    assert conformal.prediction_sets(torn, cutoff)[0, :2].all()
    assert 2 <= conformal.prediction_sets(torn, cutoff).sum() <= 3
    assert conformal.prediction_sets(spread, cutoff).sum() > conformal.MAX_ANSWERS


def test_too_few_calibration_rows_give_every_class():
    # 5 rows can promise at most 5/6 = 0.83: 0.9 needs the 6th smallest of 5 scores
    assert conformal.threshold([0.1, 0.2, 0.3, 0.4, 0.5], 0.9) == math.inf
    assert conformal.threshold([0.1, 0.2, 0.3, 0.4, 0.5], 0.8) == 0.5
    sets = conformal.prediction_sets(np.array([[0.9, 0.1, 0.0]]), math.inf)
    assert sets.all()


def test_aps_scores_are_the_mass_of_the_classes_ranked_at_or_above():
    scores = conformal.class_scores(np.array([[0.2, 0.5, 0.3]]), conformal.APS)
    np.testing.assert_allclose(scores, [[1.0, 0.5, 0.8]])
    np.testing.assert_allclose(conformal.class_scores(np.array([[0.2, 0.8]])), [[0.8, 0.2]])


def test_each_fold_is_cut_at_the_threshold_of_the_other_folds():
    sure = np.tile([[0.99, 0.005, 0.005]], (20, 1))
    # fold 0 is always right and sure; fold 1 is always wrong: its true class has p = 0.005
    labels = [np.zeros(20, int), np.ones(20, int)]
    sets = conformal.cross_fold_sets([sure, sure], labels, coverage=0.9)
    # fold 0's rows are cut by fold 1's scores (0.995): every class whose p >= 0.005
    assert sets[:20].all()
    # fold 1's rows by fold 0's (0.01): only the top class, which is wrong
    assert sets[20:, 0].all() and not sets[20:, 1:].any()
    single = conformal.cross_fold_sets([sure], [labels[0]])
    assert single.all(), "one fold has no other fold to calibrate on"


def test_the_record_round_trips_and_serves_any_coverage():
    rng = np.random.default_rng(1)
    p, y = _draw(rng, 200)
    scores = conformal.calibrate({"prompt_classifier": (p, y)}, coverage=0.9)
    record = scores.as_dict()
    assert all(type(v) is float for v in record["scores"]["prompt_classifier"])
    back = conformal.from_calibration({"method": "temperature", conformal.RECORD_KEY: record})
    assert back.coverage == 0.9 and back.method == conformal.LAC
    assert back.threshold("prompt_classifier") == scores.threshold("prompt_classifier")
    assert back.threshold("prompt_classifier", 0.5) < back.threshold("prompt_classifier", 0.95)
    assert back.sets("linear_probe", p) is None, "a head without scores has no sets"
    assert conformal.from_calibration({"method": "temperature"}) is None
    assert conformal.from_calibration(None) is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"method": "lac", "coverage": 0.9}, "needs a {head: scores} mapping"),
        ({"method": "lac", "coverage": 1.0, "scores": {"h": [0.1]}}, "strictly between 0 and 1"),
        ({"method": "raps", "coverage": 0.9, "scores": {"h": [0.1]}}, "one of lac, aps"),
        ({"method": "lac", "coverage": 0.9, "scores": {"h": []}}, "finite and non-empty"),
        ({"method": "lac", "coverage": 0.9, "scores": {"h": [float("nan")]}}, "finite"),
    ],
)
def test_a_malformed_record_is_refused_with_the_reason(record, reason):
    with pytest.raises(ValueError, match=reason.replace("{", r"\{").replace("}", r"\}")):
        conformal.ConformalScores.from_dict(record)


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        conformal.class_scores(np.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        conformal.class_scores(np.array([[-0.1, 1.1]]))
    with pytest.raises(ValueError, match="labels must lie in"):
        conformal.nonconformity(np.array([[0.5, 0.5]]), np.array([2]))

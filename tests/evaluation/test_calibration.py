"""Temperature scaling and the expected calibration error (``facevlm.evaluation.calibration``).

Specification:

- a temperature fitted on labels drawn from ``softmax(z / T_true)`` recovers ``T_true``;
- dividing logits by any positive temperature never changes which class is predicted;
- the ECE (15 equal-width bins on the top-class confidence, right-inclusive) matches a case
  binned by hand;
- leave-one-fold-out: each fold's temperature is fitted on the other folds only (changing a
  fold's own rows does not move it) and its calibrated ECE uses that temperature;
- a row whose true class the head cannot predict (``-inf``) is left out of the fit; bad input
  is refused with the reason.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facevlm.evaluation.calibration import (
    FoldCalibration,
    bundle_record,
    expected_calibration_error,
    fit_temperature,
    head_temperatures,
    leave_one_fold_out,
    negative_log_likelihood,
    reliability_bins,
    softmax,
)


def _sample(rng: np.random.Generator, n: int, t_true: float, n_classes: int = 6):
    """Logits whose scaled version ``z / t_true`` has a spread of a few units, and labels drawn
    from ``softmax(z / t_true)``: a model exactly miscalibrated by ``t_true``."""
    z = t_true * rng.normal(0.0, 2.0, (n, n_classes))
    p = softmax(z, t_true)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return z, labels


@pytest.mark.parametrize("t_true", [0.3, 1.0, 4.0, 25.0])
def test_fitted_temperature_recovers_the_one_that_made_the_labels(t_true):
    z, labels = _sample(np.random.default_rng(1), 4000, t_true)
    fitted = fit_temperature(z, labels)
    assert fitted == pytest.approx(t_true, rel=0.08)
    # it is the NLL minimum: a little either side is worse
    best = negative_log_likelihood(z, labels, fitted)
    assert best < negative_log_likelihood(z, labels, fitted * 1.1)
    assert best < negative_log_likelihood(z, labels, fitted / 1.1)
    # and it repairs the calibration the wrong temperature broke
    before = expected_calibration_error(softmax(z), labels)
    after = expected_calibration_error(softmax(z, fitted), labels)
    if t_true != 1.0:
        assert after < before
    assert after < 0.04


@settings(max_examples=200, deadline=None)
@given(
    logits=arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(2, 7)),
        # a grid of 0.01: distinct logits stay distinct after any division the fit can make
        elements=st.integers(-5000, 5000).map(lambda k: k / 100),
    ),
    temperature=st.floats(1e-2, 1e4),
)
def test_calibration_never_changes_the_predicted_class(logits, temperature):
    calibrated = softmax(logits, temperature)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), logits.argmax(axis=1))
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)


def test_fitted_temperature_keeps_every_prediction_of_a_real_fit():
    z, labels = _sample(np.random.default_rng(2), 500, 3.0)
    t = fit_temperature(z, labels)
    np.testing.assert_array_equal(softmax(z, t).argmax(axis=1), z.argmax(axis=1))


def test_ece_matches_a_case_binned_by_hand():
    probabilities = np.array(
        [
            [0.90, 0.05, 0.05],  # conf 0.90 -> bin 13 (0.867, 0.933], right
            [0.04, 0.92, 0.04],  # conf 0.92 -> bin 13, wrong (label 0)
            [0.50, 0.30, 0.20],  # conf 0.50 -> bin 7 (0.467, 0.533], right
            [0.20, 0.35, 0.45],  # conf 0.45 -> bin 6 (0.400, 0.467], wrong (label 1)
            [0.25, 0.70, 0.05],  # conf 0.70 -> bin 10 (0.667, 0.733], right
        ]
    )
    labels = np.array([0, 0, 0, 1, 1])
    # bin 13: 2 rows, accuracy 1/2, confidence 0.91 -> |0.5 - 0.91| * 2/5 = 0.164
    # bin 7: 1 row, accuracy 1, confidence 0.50 -> 0.50 * 1/5 = 0.100
    # bin 6: 1 row, accuracy 0, confidence 0.45 -> 0.45 * 1/5 = 0.090
    # bin 10: 1 row, accuracy 1, confidence 0.70 -> 0.30 * 1/5 = 0.060
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.414)
    bins = reliability_bins(probabilities, labels)
    assert bins.counts.tolist() == [0] * 6 + [1, 1, 0, 0, 1, 0, 0, 2, 0]
    assert bins.confidence[13] == pytest.approx(0.91) and bins.accuracy[13] == 0.5
    assert np.isnan(bins.accuracy[0]), "an empty bin has no accuracy"
    # one bin: |overall accuracy - mean confidence| = |3/5 - 0.694|
    assert expected_calibration_error(probabilities, labels, n_bins=1) == pytest.approx(0.094)


def test_a_confidence_on_a_bin_edge_belongs_to_the_lower_bin():
    # 0.6 = 9/15 is the upper edge of bin 8 (0.533, 0.6]: Guo et al.'s right-inclusive bins
    bins = reliability_bins(np.array([[0.6, 0.4], [1.0, 0.0]]), np.array([0, 0]))
    assert bins.counts[8] == 1 and bins.counts[14] == 1 and bins.n_samples == 2


def test_each_fold_is_calibrated_by_the_other_folds_only():
    rng = np.random.default_rng(3)
    # fold 0 is far more overconfident than folds 1 and 2: a fit that saw it would move
    folds = [_sample(rng, 300, t) for t in (8.0, 2.0, 2.0)]
    logits, labels = [f[0] for f in folds], [f[1] for f in folds]
    result = leave_one_fold_out(logits, labels)
    assert isinstance(result, FoldCalibration)
    others = np.concatenate(logits[1:]), np.concatenate(labels[1:])
    assert result.fold_temperatures[0] == pytest.approx(fit_temperature(*others))
    assert result.fold_temperatures[0] == pytest.approx(2.0, rel=0.15)
    assert result.ece_calibrated[0] == pytest.approx(
        expected_calibration_error(softmax(logits[0], result.fold_temperatures[0]), labels[0])
    )
    assert result.ece_uncalibrated[0] == pytest.approx(
        expected_calibration_error(softmax(logits[0]), labels[0])
    )
    everything = np.concatenate(logits), np.concatenate(labels)
    assert result.temperature == pytest.approx(fit_temperature(*everything))
    assert result.n_samples == 900

    # replacing fold 0's own rows leaves its temperature where it was, and moves the others'
    changed = [logits[0] * 5.0, *logits[1:]]
    again = leave_one_fold_out(changed, labels)
    assert again.fold_temperatures[0] == pytest.approx(result.fold_temperatures[0], rel=1e-6)
    assert again.fold_temperatures[1] != pytest.approx(result.fold_temperatures[1], rel=0.01)
    assert again.fold_temperatures[2] != pytest.approx(result.fold_temperatures[2], rel=0.01)


def test_a_single_fold_has_no_calibrated_ece_but_a_temperature():
    z, labels = _sample(np.random.default_rng(4), 200, 3.0)
    result = leave_one_fold_out([z], [labels])
    assert math.isnan(result.fold_temperatures[0]) and math.isnan(result.ece_calibrated[0])
    assert result.ece_uncalibrated[0] > 0 and result.temperature == pytest.approx(
        fit_temperature(z, labels)
    )


def test_rows_whose_class_the_head_cannot_predict_are_left_out_of_the_fit():
    z, labels = _sample(np.random.default_rng(5), 400, 3.0)
    with_absent = np.concatenate([z, np.full((20, 6), 1.0)])
    with_absent[400:, 5] = -np.inf  # a probe fitted without class 5
    labels_absent = np.concatenate([labels, np.full(20, 5)])
    assert fit_temperature(with_absent, labels_absent) == pytest.approx(
        fit_temperature(z, labels), rel=1e-4
    )
    assert softmax(with_absent)[400:, 5].max() == 0.0


@pytest.mark.parametrize(
    ("logits", "labels", "reason"),
    [
        (np.zeros(4), np.zeros(4, int), r"\(N, C\)"),
        (np.zeros((4, 3)), np.zeros(3, int), "labels must be"),
        (np.zeros((2, 3)), np.array([0, 3]), r"lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "integer"),
        (np.full((2, 3), np.nan), np.array([0, 1]), "finite"),
        (np.zeros((0, 3)), np.zeros(0, int), "at least one row"),
    ],
)
def test_bad_input_is_refused_with_the_reason(logits, labels, reason):
    with pytest.raises(ValueError, match=reason):
        fit_temperature(logits, labels)


def test_the_bundle_record_is_plain_data_that_the_predictor_reads_back():
    z, labels = _sample(np.random.default_rng(6), 100, 2.0)
    folds = leave_one_fold_out([z[:50], z[50:]], [labels[:50], labels[50:]])
    record = bundle_record({"prompt_classifier": folds})
    assert record["method"] == "temperature" and record["n_bins"] == 15
    assert record["ece_calibrated"]["prompt_classifier"] == pytest.approx(
        np.mean(folds.ece_calibrated)
    )
    assert head_temperatures(record) == {"prompt_classifier": folds.temperature}
    assert head_temperatures(None) == {}
    assert bundle_record({}) is None
    with pytest.raises(ValueError, match="head 'probe'"):
        head_temperatures({"method": "temperature", "temperature": {"probe": 2.0}})
    with pytest.raises(ValueError, match="positive"):
        head_temperatures({"method": "temperature", "temperature": {"linear_probe": -1.0}})
    with pytest.raises(ValueError, match="method must be 'temperature'"):
        head_temperatures({"method": "isotonic"})

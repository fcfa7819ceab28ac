"""Fold metrics against hand computation, fold aggregation, and the shared metric names."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from facevlm.evaluation.metrics import (
    KNN,
    ZERO_SHOT,
    aggregate_folds,
    classification_report,
    metric_names,
)

H, S = "happiness", "sadness"


def test_two_class_report_matches_hand_computation() -> None:
    y_true = [H, H, H, S, S]
    y_pred = [H, H, S, S, H]
    report = classification_report(y_true, y_pred, [H, S])
    # Confusion: true happiness -> 2 happiness, 1 sadness; true sadness -> 1 happiness, 1 sadness.
    assert report["confusion"] == [[2, 1], [1, 1]]
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["per_class_recall"] == pytest.approx({H: 2 / 3, S: 1 / 2})
    # precision: happiness 2 of 3 predicted, sadness 1 of 2 predicted.
    assert report["per_class_precision"] == pytest.approx({H: 2 / 3, S: 1 / 2})
    f1_h = 2 * (2 / 3) * (2 / 3) / (2 / 3 + 2 / 3)
    f1_s = 2 * (1 / 2) * (1 / 2) / (1 / 2 + 1 / 2)
    assert report["macro_f1"] == pytest.approx((f1_h + f1_s) / 2)
    assert report["support"] == {H: 3, S: 2}
    assert report["n_samples"] == 5


def test_indices_and_names_give_the_same_report() -> None:
    by_name = classification_report([H, S, S], [S, S, H], [H, S])
    by_index = classification_report(np.array([0, 1, 1]), [1, 1, 0], [H, S])
    assert by_name == by_index


def test_absent_classes_are_undefined_not_zero() -> None:
    # 'c' is predicted once but never true; 'd' is neither true nor predicted.
    report = classification_report(["a", "a", "b"], ["a", "c", "b"], ["a", "b", "c", "d"])
    assert math.isnan(report["per_class_recall"]["c"])
    assert math.isnan(report["per_class_recall"]["d"])
    f1_a = 2 * 1 / (2 + 1)  # 1 hit, 2 true a, 1 predicted a
    f1_b = 1.0
    f1_c = 0.0  # predicted but absent
    assert report["macro_f1"] == pytest.approx((f1_a + f1_b + f1_c) / 3)


def test_report_agrees_with_scikit_learn_on_random_labels() -> None:
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c", "d", "e"]
    y_true = rng.integers(0, 4, 200)  # 'e' never true
    y_pred = rng.integers(0, 5, 200)
    report = classification_report(y_true, y_pred, classes)
    assert report["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert report["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    recall = recall_score(y_true, y_pred, labels=[0, 1, 2, 3], average=None)
    assert [report["per_class_recall"][c] for c in classes[:4]] == pytest.approx(recall)


def test_bad_labels_are_rejected_with_the_offending_value() -> None:
    with pytest.raises(ValueError, match="contempt"):
        classification_report([H, "contempt"], [H, H], [H, S])
    with pytest.raises(ValueError, match="class index"):
        classification_report([0, 2], [0, 1], [H, S])
    with pytest.raises(ValueError, match="y_pred has 1"):
        classification_report([H, S], [H], [H, S])


def _fold(y_true: list[str], y_pred: list[str]) -> dict:
    return classification_report(y_true, y_pred, [H, S])


def test_aggregation_gives_mean_and_std_over_folds() -> None:
    folds = [_fold([H, S], [H, H]), _fold([H, S], [H, S])]  # accuracy 0.5 and 1.0
    agg = aggregate_folds(folds)
    assert agg["n_folds"] == 2
    assert agg["accuracy_mean"] == pytest.approx(0.75)
    assert agg["accuracy_std"] == pytest.approx(0.25)  # population std of {0.5, 1.0}
    assert aggregate_folds(folds, ddof=1)["accuracy_std"] == pytest.approx(math.sqrt(0.125))
    f1s = [folds[0]["macro_f1"], folds[1]["macro_f1"]]
    assert agg["macro_f1_mean"] == pytest.approx(np.mean(f1s))
    assert agg["per_class_recall_mean"] == pytest.approx({H: 1.0, S: 0.5})
    assert agg["confusion"] == [[2, 0], [1, 1]]


def test_class_recall_averages_only_folds_that_test_the_class() -> None:
    # Leave-one-subject-out: fold 0 has no sadness sample.
    folds = [_fold([H, H], [H, S]), _fold([H, S, S], [H, S, H])]
    agg = aggregate_folds(folds)
    assert agg["per_class_recall_mean"][S] == pytest.approx(1 / 2)
    assert agg["per_class_recall_mean"][H] == pytest.approx((1 / 2 + 1) / 2)


def test_aggregation_refuses_folds_over_different_classes() -> None:
    with pytest.raises(ValueError, match="classes"):
        aggregate_folds([_fold([H], [H]), classification_report(["x"], ["x"], ["x", "y"])])


def test_metric_names_follow_the_shared_scheme() -> None:
    agg = aggregate_folds([_fold([H, S], [H, H]), _fold([H, S], [H, S])])
    primary = metric_names(agg)
    assert set(primary) == {
        "test/accuracy_mean",
        "test/accuracy_std",
        "test/macro_f1_mean",
        "test/macro_f1_std",
        f"test/recall/{H}",
        f"test/recall/{S}",
    }
    assert primary["test/accuracy_mean"] == agg["accuracy_mean"]
    assert primary[f"test/recall/{S}"] == agg["per_class_recall_mean"][S]
    for evaluation in (ZERO_SHOT, KNN):
        extra = metric_names(agg, evaluation=evaluation)
        assert {name.replace(f"test/{evaluation}/", "test/") for name in extra} == set(primary)
    assert "val/macro_f1_std" in metric_names(agg, split="val")


def test_metric_names_reject_bad_segments_and_sanitise_class_names() -> None:
    agg = aggregate_folds([classification_report(["a(b)"], ["a(b)"], ["a(b)"])])
    assert "test/recall/a_b_" in metric_names(agg)
    with pytest.raises(ValueError):
        metric_names(agg, evaluation="Zero Shot")

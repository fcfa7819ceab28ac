"""Final metric names say what they measure; training time per fold comes with mean and std."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.experiments.results import PRIMARY, CrossValidationResult, FoldResult

CLASSES = ["anger", "happiness"]


def _result(model: str) -> CrossValidationResult:
    folds = [
        FoldResult(
            fold=k,
            test_sample_ids=["a", "b", "c", "d"],
            y_true=np.array([0, 0, 1, 1]),
            predictions={PRIMARY: np.array([0, k % 2, 1, 1]), "knn": np.array([0, 0, 1, 0])},
            history=[{"epoch": 1, "loss": 1.0, "time_s": 2.0 + k}, {"epoch": 2, "time_s": 3.0}],
        )
        for k in range(2)
    ]
    return CrossValidationResult(model, CLASSES, folds, config={})


def test_smile_primary_metrics_are_also_named_linear_probe():
    metrics = _result("smile").final_metrics()
    assert metrics["test/accuracy_mean"] == pytest.approx(0.875)
    assert metrics["test/linear_probe/accuracy_mean"] == metrics["test/accuracy_mean"]
    assert metrics["test/linear_probe/macro_f1_std"] == metrics["test/macro_f1_std"]
    assert metrics["test/knn/accuracy_mean"] == pytest.approx(0.75)


def test_affectvlm_keeps_the_shared_names_only():
    metrics = _result("affectvlm").final_metrics()
    assert "test/accuracy_mean" in metrics
    assert not any(name.startswith("test/linear_probe/") for name in metrics)


def test_training_time_is_summed_per_fold_and_kept_out_of_final_metrics():
    result = _result("smile")
    assert result.training_time_metrics() == {
        "train/fold_time_s_mean": pytest.approx(5.5),
        "train/fold_time_s_std": pytest.approx(0.5),
    }
    assert not any(name.startswith("train/") for name in result.final_metrics())

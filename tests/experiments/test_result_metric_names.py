"""Final metric names say what they measure; training time per fold comes with mean and std."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.evaluation import calibration, conformal
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


def _calibrated_result(model: str, n_folds: int = 3) -> CrossValidationResult:
    """Folds whose logits are sharper than their labels: the same overconfident head per fold."""
    rng = np.random.default_rng(0)
    folds = []
    for k in range(n_folds):
        scores = rng.normal(0.0, 2.0, (40, 2))
        truth = (rng.random(40) < 1 / (1 + np.exp(scores[:, 0] - scores[:, 1]))).astype(int)
        logits = 5.0 * scores  # five times too sure
        folds.append(
            FoldResult(
                fold=k,
                test_sample_ids=[f"s{k}-{i}" for i in range(40)],
                y_true=truth,
                predictions={PRIMARY: logits.argmax(1), "knn": logits.argmax(1)},
                history=[],
                logits={PRIMARY: logits},
            )
        )
    return CrossValidationResult(model, CLASSES, folds, config={})


def test_ece_before_and_after_calibration_is_logged_beside_the_accuracy():
    result = _calibrated_result("smile")
    metrics = result.final_metrics()
    fitted = result.fold_calibration(PRIMARY)
    assert metrics["test/ece_mean"] == pytest.approx(np.mean(fitted.ece_calibrated))
    assert metrics["test/ece_std"] == pytest.approx(np.std(fitted.ece_calibrated))
    assert metrics["test/ece_uncalibrated_mean"] == pytest.approx(np.mean(fitted.ece_uncalibrated))
    assert metrics["test/ece_mean"] < metrics["test/ece_uncalibrated_mean"]
    assert metrics["test/temperature"] == pytest.approx(5.0, rel=0.35)
    assert metrics["test/linear_probe/ece_mean"] == metrics["test/ece_mean"]
    assert not any(name.startswith("test/knn/ece") for name in metrics), "votes have no logits"
    record = result.calibration_record()
    assert record["temperature"] == {"linear_probe": metrics["test/temperature"]}


def test_an_old_fold_result_without_logits_unpickles_and_is_not_calibrated():
    import pickle

    fold = _result("affectvlm").folds[0]
    del fold.__dict__["logits"]  # as a fold result pickled before logits were kept
    restored = pickle.loads(pickle.dumps(fold))
    assert restored.logits == {}
    result = CrossValidationResult("affectvlm", CLASSES, [restored], config={})
    assert "test/accuracy_mean" in result.final_metrics()
    assert not any("ece" in name for name in result.final_metrics())
    assert result.calibration_record() is None


def _result_with_sources(model: str) -> CrossValidationResult:
    """Two folds whose held-out samples alternate between two face sources: the primary head
    gets every ``procedural`` sample right and half of the ``ict`` ones, k-NN the reverse."""
    folds = [
        FoldResult(
            fold=k,
            test_sample_ids=[f"{k}a", f"{k}b", f"{k}c", f"{k}d"],
            y_true=np.array([0, 1, 0, 1]),
            predictions={
                PRIMARY: np.array([0, 1, 0, 0 if k == 0 else 1]),
                "knn": np.array([1 if k == 0 else 0, 1, 0, 1]),
            },
            history=[],
        )
        for k in range(2)
    ]
    sources = {f"{k}{s}": ("procedural" if s in "ab" else "ict") for k in range(2) for s in "abcd"}
    return CrossValidationResult(model, CLASSES, folds, config={}, face_sources=sources)


def test_accuracy_is_reported_per_face_source_over_every_held_out_prediction():
    result = _result_with_sources("smile")
    metrics = result.final_metrics()
    assert metrics["test/accuracy_procedural"] == pytest.approx(1.0)
    assert metrics["test/accuracy_ict"] == pytest.approx(0.75)
    assert metrics["test/linear_probe/accuracy_ict"] == metrics["test/accuracy_ict"]
    assert metrics["test/knn/accuracy_procedural"] == pytest.approx(0.75)
    assert metrics["test/knn/accuracy_ict"] == pytest.approx(1.0)
    assert result.held_out_face_sources() == {"ict": 4, "procedural": 4}
    frame = result.predictions_frame()
    assert frame.groupby("face_source").size().to_dict() == {"ict": 4, "procedural": 4}


def test_a_single_face_source_adds_no_per_source_metric():
    result = _result_with_sources("affectvlm")
    result.face_sources = dict.fromkeys(result.face_sources, "procedural")
    assert not any(name.endswith("_procedural") for name in result.final_metrics())
    result.face_sources = {}
    assert "face_source" not in result.predictions_frame().columns


def test_a_result_pickled_before_face_sources_existed_still_reports():
    import pickle

    result = _result("affectvlm")
    state = dict(result.__dict__)
    del state["face_sources"]
    restored = CrossValidationResult.__new__(CrossValidationResult)
    restored.__setstate__(pickle.loads(pickle.dumps(state)))
    assert restored.final_metrics() == result.final_metrics()


def test_the_pooled_ece_is_that_of_every_held_out_row_together():
    result = _calibrated_result("smile")
    metrics = result.final_metrics()
    fitted = result.fold_calibration(PRIMARY)
    labels = np.concatenate([f.y_true for f in result.folds])
    before = np.concatenate([calibration.softmax(f.logits[PRIMARY]) for f in result.folds])
    after = np.concatenate(
        [
            calibration.softmax(f.logits[PRIMARY], t)
            for f, t in zip(result.folds, fitted.fold_temperatures, strict=True)
        ]
    )
    assert metrics["test/ece_pooled_uncalibrated"] == pytest.approx(
        calibration.expected_calibration_error(before, labels)
    )
    assert metrics["test/ece_pooled"] == pytest.approx(
        calibration.expected_calibration_error(after, labels)
    )
    assert metrics["test/ece_pooled"] < metrics["test/ece_pooled_uncalibrated"]
    assert metrics["test/linear_probe/ece_pooled"] == metrics["test/ece_pooled"]
    # the reliability diagram's bins are the same pooled rows
    diagram_before, diagram_after = result.reliability(PRIMARY)
    assert diagram_after.ece == metrics["test/ece_pooled"]
    assert diagram_before.n_samples == len(labels)
    single = CrossValidationResult("smile", CLASSES, result.folds[:1], config={})
    names = single.final_metrics()
    assert "test/ece_pooled_uncalibrated" in names
    assert "test/ece_pooled" not in names, "one fold: no temperature fitted elsewhere"


def test_the_held_out_sets_of_answers_are_reported_and_stored_with_the_model():
    result = _calibrated_result("affectvlm", n_folds=4)
    metrics = result.final_metrics()
    fitted = result.fold_calibration(PRIMARY)
    sets = conformal.cross_fold_sets(
        result.calibrated_probabilities(PRIMARY, fitted), [f.y_true for f in result.folds]
    )
    labels = np.concatenate([f.y_true for f in result.folds])
    assert metrics["test/set_coverage"] == pytest.approx(
        sets[np.arange(len(labels)), labels].mean()
    )
    assert metrics["test/set_coverage"] >= 0.85
    assert 1.0 <= metrics["test/set_size_mean"] <= len(CLASSES)
    assert metrics["test/abstention_rate"] == 0.0, "two classes never make a set of four"
    assert metrics["test/answered_accuracy"] == pytest.approx(
        np.mean(np.concatenate([f.predictions[PRIMARY] for f in result.folds]) == labels)
    )
    record = result.calibration_record()
    stored = conformal.from_calibration(record)
    assert stored.coverage == conformal.DEFAULT_COVERAGE
    assert len(stored.scores["prompt_classifier"]) == len(labels)
    # the scores are 1 - p(true class) on the probabilities over the temperature of all folds
    probabilities = np.concatenate(result.calibrated_probabilities(PRIMARY, fitted))
    np.testing.assert_allclose(
        stored.scores["prompt_classifier"],
        np.sort(1.0 - probabilities[np.arange(len(labels)), labels]),
    )

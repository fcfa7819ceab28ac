"""AffectVLM's experiment: it learns, it reports per fold and over folds, and it is reproducible."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from facevlm.experiments import affectvlm
from facevlm.experiments.affectvlm import AffectVLMConfig
from facevlm.experiments.cross_validation import cross_validate
from facevlm.experiments.results import PRIMARY, CrossValidationResult, FoldResult
from facevlm.models.augment import AugmentConfig

EPOCHS = 4
MAX_FOLDS = 2


@pytest.fixture(scope="module")
def affect_run(tiny_data, augmented_bank, make_params):
    """Two of the three folds, four epochs each: ``(result, last fold's fitted model, cfg)``."""
    cfg = AffectVLMConfig.from_params(
        make_params(train={"epochs": EPOCHS}, data={"max_folds": MAX_FOLDS})
    )
    result, fitted = cross_validate(
        affectvlm.RECIPE, tiny_data, augmented_bank, cfg, tags={"run": "t"}
    )
    return result, fitted, cfg


# ---- training ------------------------------------------------------------------------------------


def test_training_reduces_the_loss_in_every_fold(affect_run):
    result, _, _ = affect_run
    for fold in result.folds:
        losses = [record["loss"] for record in fold.history]
        assert len(losses) == EPOCHS
        assert losses[-1] < losses[0], f"fold {fold.fold}: loss went {losses}"


def test_every_epoch_records_the_held_out_accuracy_and_the_loss_terms(affect_run):
    result, _, _ = affect_run
    for fold in result.folds:
        assert [record["epoch"] for record in fold.history] == list(range(1, EPOCHS + 1))
        for record in fold.history:
            assert 0.0 <= record["eval/accuracy"] <= 1.0
            assert {"loss/mc", "loss/mt", "loss/infonce"} <= set(record)


def test_the_held_out_accuracy_of_the_last_epoch_is_that_of_the_final_predictions(affect_run):
    result, _, _ = affect_run
    for fold in result.folds:
        final = float(np.mean(fold.predictions[PRIMARY] == fold.y_true))
        assert fold.history[-1]["eval/accuracy"] == pytest.approx(final)


# ---- cross-validation result ---------------------------------------------------------------------


def test_cross_validate_returns_one_fold_result_per_fold_up_to_max_folds(affect_run, tiny_data):
    result, _, _ = affect_run
    assert isinstance(result, CrossValidationResult)
    assert len(tiny_data.folds) > MAX_FOLDS, "the fixture must leave a fold out"
    assert [f.fold for f in result.folds] == tiny_data.folds[:MAX_FOLDS]
    assert result.model == "affectvlm"
    assert result.classes == tiny_data.classes
    assert result.tags == {"run": "t"}
    assert result.config["data"]["max_folds"] == MAX_FOLDS


def test_each_fold_result_holds_its_held_out_subjects_truth_predictions_and_embeddings(
    affect_run, tiny_data
):
    result, fitted, _ = affect_run
    dim = fitted.model.fusion(torch.zeros(1, 3, 64)).shape[-1]
    for fold in result.folds:
        assert isinstance(fold, FoldResult)
        _, test_rows = tiny_data.split(fold.fold)
        assert fold.test_sample_ids == list(tiny_data.samples["sample_id"].iloc[test_rows])
        np.testing.assert_array_equal(fold.y_true, tiny_data.labels[test_rows])
        assert list(fold.predictions) == [PRIMARY]
        predicted = fold.predictions[PRIMARY]
        assert predicted.shape == (len(test_rows),)
        assert set(predicted.tolist()) <= set(range(len(tiny_data.classes)))
        assert fold.test_embeddings.shape == (len(test_rows), dim)
        np.testing.assert_allclose(np.linalg.norm(fold.test_embeddings, axis=1), 1.0, atol=1e-5)
        # the logits behind the predictions, for calibration: scaled cosines, same argmax
        logits = fold.logits[PRIMARY]
        assert logits.shape == (len(test_rows), len(tiny_data.classes))
        np.testing.assert_array_equal(logits.argmax(axis=1), predicted)


def test_final_metrics_are_mean_and_std_over_folds_with_per_class_recall(affect_run):
    result, _, _ = affect_run
    metrics = result.final_metrics()

    per_fold = [np.mean(f.predictions[PRIMARY] == f.y_true) for f in result.folds]
    assert metrics["test/accuracy_mean"] == pytest.approx(np.mean(per_fold))
    assert metrics["test/accuracy_std"] == pytest.approx(np.std(per_fold))
    assert 0.0 <= metrics["test/macro_f1_mean"] <= 1.0
    for i, name in enumerate(result.classes):  # every test subject shows every class
        recalls = [np.mean(f.predictions[PRIMARY][f.y_true == i] == i) for f in result.folds]
        assert metrics[f"test/recall/{name}"] == pytest.approx(np.mean(recalls))
    assert not any(key.startswith("test/knn/") for key in metrics), "AffectVLM has no k-NN"


def test_history_frame_has_one_row_per_fold_and_epoch(affect_run):
    result, _, _ = affect_run
    frame = result.history_frame()

    assert len(frame) == MAX_FOLDS * EPOCHS
    assert not frame.duplicated(["fold", "epoch"]).any()
    assert {"fold", "epoch", "loss", "eval/accuracy"} <= set(frame.columns)
    first = result.folds[0]
    assert frame.loc[frame.fold == first.fold, "loss"].tolist() == [
        r["loss"] for r in first.history
    ]


def test_predictions_frame_has_one_row_per_held_out_sample(affect_run, tiny_data):
    result, _, _ = affect_run
    frame = result.predictions_frame()

    tested = tiny_data.samples[tiny_data.samples["fold"].isin(tiny_data.folds[:MAX_FOLDS])]
    assert len(frame) == len(tested)
    assert sorted(frame["sample_id"]) == sorted(tested["sample_id"])
    truth = dict(zip(tiny_data.samples["sample_id"], tiny_data.samples["expression"], strict=True))
    assert frame["true"].tolist() == [truth[s] for s in frame["sample_id"]]
    assert set(frame[f"pred_{PRIMARY}"]) <= set(tiny_data.classes)


def test_the_result_pickles_without_torch(affect_run):
    result, _, _ = affect_run
    payload = pickle.dumps(result)

    assert b"torch" not in payload
    assert pickle.loads(payload).final_metrics() == result.final_metrics()


def test_without_max_folds_every_fold_is_run(tiny_data, augmented_bank, make_params):
    cfg = AffectVLMConfig.from_params(make_params(train={"epochs": 1}))
    result, _ = cross_validate(affectvlm.RECIPE, tiny_data, augmented_bank, cfg)

    assert [f.fold for f in result.folds] == tiny_data.folds


# ---- reproducibility and configuration -----------------------------------------------------------


def test_the_same_config_twice_gives_identical_metrics_and_weights(
    tiny_data, augmented_bank, make_params
):
    cfg = AffectVLMConfig.from_params(make_params(train={"epochs": 2}, data={"max_folds": 1}))
    first, first_fit = cross_validate(affectvlm.RECIPE, tiny_data, augmented_bank, cfg)
    second, second_fit = cross_validate(affectvlm.RECIPE, tiny_data, augmented_bank, cfg)

    assert first.final_metrics() == second.final_metrics()
    np.testing.assert_array_equal(first.folds[0].test_embeddings, second.folds[0].test_embeddings)
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in first.folds[0].history] == [
        {k: v for k, v in r.items() if k != "time_s"} for r in second.folds[0].history
    ]
    first_state, second_state = first_fit.model.state_dict(), second_fit.model.state_dict()
    assert first_state.keys() == second_state.keys()
    for name, tensor in first_state.items():
        assert torch.equal(tensor, second_state[name]), name


def test_from_params_builds_typed_nested_configs(make_params):
    cfg = AffectVLMConfig.from_params(
        make_params(train={"epochs": 3}, loss={"w_infonce": 0.0, "mining": "hard"})
    )

    assert cfg.train.epochs == 3
    assert cfg.loss.w_infonce == 0.0 and cfg.loss.mining == "hard"
    assert cfg.model.backbone.name == "facevlm-tiny" and cfg.model.backbone.pretrained is None


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"learning_rate": 1e-3}, "learning_rate"),
        ({"train": {"epochs": 1, "lr": 1e-3}}, "lr"),
        ({"loss": {"margin": 0.3}}, "margin"),
    ],
)
def test_from_params_refuses_an_unknown_key_and_names_it(params, named):
    with pytest.raises(ValueError, match=rf"unknown parameter\(s\) \['{named}'\]"):
        AffectVLMConfig.from_params(params)


def test_from_params_builds_the_augmentation_config_from_a_dict():
    cfg = AffectVLMConfig.from_params({"augment": {"flip_p": 0.0}})

    assert isinstance(cfg.augment, AugmentConfig)
    assert cfg.augment.flip_p == 0.0
    assert AffectVLMConfig.from_params({"augment": None}).augment is None  # no augmentation


def test_the_frozen_starting_point_is_scored_on_the_same_folds(
    tiny_data, augmented_bank, make_params
):
    """The untrained model's zero-shot and linear-probe scores join the result's metrics; they come
    from the model as built, so they do not depend on the training that follows."""
    from facevlm.experiments.cross_validation import frozen_backbone_metrics

    cfg = affectvlm.AffectVLMConfig.from_params(
        make_params(train={"epochs": 1}, data={"max_folds": 2})
    )
    result, _ = cross_validate(affectvlm.RECIPE, tiny_data, augmented_bank, cfg)
    result.baseline_metrics = frozen_backbone_metrics(tiny_data, augmented_bank, cfg)

    metrics = result.final_metrics()
    for name in ("baseline/zero_shot/accuracy_mean", "baseline/linear_probe/accuracy_mean"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["baseline/linear_probe/accuracy_mean"] > 1 / len(tiny_data.classes), (
        "a probe on the random backbone's features still separates the easy toy classes"
    )
    longer = affectvlm.AffectVLMConfig.from_params(
        make_params(train={"epochs": 3}, data={"max_folds": 2})
    )
    assert frozen_backbone_metrics(tiny_data, augmented_bank, longer) == result.baseline_metrics

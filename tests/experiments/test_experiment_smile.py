"""SMILE-VLM's experiment: label-free training on pseudo-labelled prompts, frozen-embedding
evaluation (linear probe, k-NN, zero-shot) and the ablation switches."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch

from facevlm.experiments import smile
from facevlm.experiments.common import ExperimentConfig
from facevlm.experiments.cross_validation import cross_validate
from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.results import PRIMARY
from facevlm.experiments.sequences import stack_sequence_frames
from facevlm.experiments.smile import SmileConfig
from facevlm.models.backbone import BackboneConfig, get_tokenizer
from facevlm.models.multiview_clip import MultiviewCLIPConfig
from facevlm.models.multiview_data import UNLABELED
from facevlm.prompts.descriptive import GENERIC_PROMPT, descriptive_prompt_bank
from facevlm.trainer import ExecutionConfig, TrainConfig, TrainHistory

EPOCHS = 3
REFRESH_EVERY = 2
MAX_FOLDS = 2


@contextmanager
def spy_on_training(fake: bool = False) -> Iterator[list[dict]]:
    """Record the dataset and config that ``smile.fit`` hands to the training loop (after the
    loop ran, so the dataset holds the prompts of the last refresh). ``fake``: skip training."""
    calls: list[dict] = []
    real_train = smile.train

    def spy(model, loss, dataset, cfg, **kwargs):
        history = TrainHistory() if fake else real_train(model, loss, dataset, cfg, **kwargs)
        calls.append({"dataset": dataset, "cfg": cfg})
        return history

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(smile, "train", spy)
        yield calls


def smile_config(make_params, **sections) -> SmileConfig:
    params = make_params(
        train={"epochs": EPOCHS},
        data={"max_folds": MAX_FOLDS},
        pseudo_labels={"refresh_every": REFRESH_EVERY},
    )
    for name, value in sections.items():
        params.setdefault(name, {}).update(value)
    return SmileConfig.from_params(params)


def state_of(fitted) -> dict[str, torch.Tensor]:
    return fitted.model.state_dict()


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name, tensor in a.items():
        assert torch.equal(tensor, b[name]), f"{name} differs"


def without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "time_s"} for record in history]


@pytest.fixture(scope="module")
def smile_run(tiny_data, descriptive_bank, make_params):
    """Two of the three folds: ``(result, last fold's fitted model, cfg, training calls)``."""
    cfg = smile_config(make_params)
    with spy_on_training() as calls:
        result, fitted = cross_validate(smile.RECIPE, tiny_data, descriptive_bank, cfg)
    return result, fitted, cfg, calls


# ---- no label enters training --------------------------------------------------------------------


def test_the_training_loop_sees_no_ground_truth_only_pseudo_labels(smile_run):
    _, _, _, calls = smile_run
    assert len(calls) == MAX_FOLDS
    for call in calls:
        assert set(call["dataset"].labels) == {UNLABELED}
        assert call["cfg"].loss_labels == "prompt_ids"


def test_permuting_the_ground_truth_changes_nothing_in_training(
    smile_run, tiny_data, descriptive_bank, permute_labels
):
    result, fitted, cfg, _ = smile_run
    shuffled = permute_labels(tiny_data)
    assert (shuffled.labels != tiny_data.labels).mean() > 0.5, "the permutation must bite"

    shuffled_result, shuffled_fitted = cross_validate(smile.RECIPE, shuffled, descriptive_bank, cfg)

    assert_same_weights(state_of(fitted), state_of(shuffled_fitted))
    for fold, shuffled_fold in zip(result.folds, shuffled_result.folds, strict=True):
        assert without_time(fold.history) == without_time(shuffled_fold.history)
        # the same pseudo-labels at every refresh (their agreement with the truth, read after
        # training like the probe, is the evaluation's)
        refreshes = "pseudo_label_refreshes"
        assert fold.extra[refreshes] == shuffled_fold.extra[refreshes]
        np.testing.assert_array_equal(fold.test_embeddings, shuffled_fold.test_embeddings)
        assert not np.array_equal(fold.y_true, shuffled_fold.y_true), "evaluation does see them"


MER_CLASSES = ["positive", "negative", "surprise", "repression", "others"]


def as_sequences(data: ExperimentData, n_frames: int = 2) -> ExperimentData:
    """Each sample as a 4D sequence of ``n_frames`` frames (the views dimmed a little more in
    each later frame), stacked as the 4D pipelines stack them (frames x views per sample)."""
    samples = data.samples.loc[data.samples.index.repeat(n_frames)].reset_index(drop=True)
    samples["dataset"] = "synthetic-bu4dfe"
    samples["sequence"] = samples["sample_id"]
    samples["frame"] = np.tile(np.arange(n_frames), len(data.labels))
    samples["sample_id"] = [
        f"{s}/{f}" for s, f in zip(samples.sequence, samples.frame, strict=True)
    ]
    views = np.repeat(data.views, n_frames, axis=0)
    views = (views * (1.0 - 0.1 * samples["frame"].to_numpy())[:, None, None, None, None]).astype(
        np.uint8
    )
    labels = np.repeat(data.labels, n_frames)
    return stack_sequence_frames(ExperimentData(views, labels, samples, data.classes))


def as_micro_expressions(data: ExperimentData) -> ExperimentData:
    """The same clips with 4DME's five classes (labels folded onto them)."""
    labels = data.labels % len(MER_CLASSES)
    samples = data.samples.assign(expression=[MER_CLASSES[c] for c in labels])
    return ExperimentData(data.views, labels, samples, list(MER_CLASSES))


@pytest.mark.parametrize("kind", ["sequences", "micro-expressions"])
def test_on_sequences_and_micro_expressions_the_ground_truth_changes_nothing_either(
    kind, tiny_data, permute_labels, make_params
):
    """The 4D (frames stacked as views) and MER (five classes, their own pseudo-label bank)
    inputs of SMILE-VLM: permuting the labels leaves every trained weight bit-identical."""
    data = as_sequences(tiny_data) if kind == "sequences" else as_micro_expressions(tiny_data)
    assert data.views.shape[1] == {"sequences": 6, "micro-expressions": 3}[kind]  # frames x views
    bank = descriptive_prompt_bank(data.classes)
    cfg = smile_config(make_params, train={"epochs": 2}, data={"max_folds": 1})
    cfg.data.classes = list(data.classes)
    cfg.model.n_views = data.views.shape[1]
    shuffled = permute_labels(data)
    assert (shuffled.labels != data.labels).mean() > 0.5, "the permutation must bite"

    _, fitted = cross_validate(smile.RECIPE, data, bank, cfg)
    _, shuffled_fitted = cross_validate(smile.RECIPE, shuffled, bank, cfg)

    assert_same_weights(state_of(fitted), state_of(shuffled_fitted))


def test_a_different_seed_trains_different_weights(smile_run, tiny_data, descriptive_bank):
    result, fitted, cfg, _ = smile_run
    train_rows, _ = tiny_data.split(result.folds[-1].fold)
    ids = list(tiny_data.samples["sample_id"].iloc[train_rows])
    other = replace(cfg, train=replace(cfg.train, seed=cfg.train.seed + 1))

    reseeded = smile.fit(tiny_data.views[train_rows], ids, descriptive_bank, other)

    a, b = state_of(fitted), state_of(reseeded)
    assert any(not torch.equal(a[name], b[name]) for name in a)


# ---- pseudo-labelled prompts ---------------------------------------------------------------------


def test_the_probe_and_zero_shot_keep_the_logits_behind_their_predictions(smile_run, tiny_data):
    result, _, _, _ = smile_run
    for fold in result.folds:
        assert set(fold.logits) == {PRIMARY, "zero_shot"}, "k-NN votes have no logits"
        for evaluation, logits in fold.logits.items():
            assert logits.shape == (len(fold.y_true), len(tiny_data.classes))
            np.testing.assert_array_equal(logits.argmax(axis=1), fold.predictions[evaluation])
    assert "test/linear_probe/ece_uncalibrated_mean" in result.final_metrics()
    assert set(result.calibration_record()["temperature"]) == {
        "linear_probe",
        "prompt_classifier",
    }


def test_pseudo_labels_are_refreshed_every_refresh_every_epochs(smile_run):
    result, fitted, _, _ = smile_run
    expected = list(range(0, EPOCHS, REFRESH_EVERY))
    assert len(expected) >= 2, "the fixture must refresh more than once"
    assert [r["epoch"] for r in fitted.refreshes] == expected
    for fold in result.folds:
        assert [r["epoch"] for r in fold.extra["pseudo_label_refreshes"]] == expected


def test_each_refresh_gives_every_training_sample_one_cluster_and_its_prompt_group(
    smile_run, tiny_data, descriptive_bank
):
    result, _, _, _ = smile_run
    groups = list(dict.fromkeys(descriptive_bank["class_name"]))
    for fold in result.folds:
        train_rows, _ = tiny_data.split(fold.fold)
        ids = list(tiny_data.samples["sample_id"].iloc[train_rows])
        for refresh in fold.extra["pseudo_label_refreshes"]:
            assert refresh["sample_id"] == ids
            assert len(refresh["prompt_group"]) == len(ids) == len(refresh["cluster"])
            assert set(refresh["prompt_group"]) <= set(groups)
            assert set(refresh["cluster"]) <= set(range(len(groups)))
            group_of_cluster = dict(zip(refresh["cluster"], refresh["prompt_group"], strict=True))
            for cluster, group in zip(refresh["cluster"], refresh["prompt_group"], strict=True):
                assert group_of_cluster[cluster] == group, "one prompt group per cluster"
            assert len(set(group_of_cluster.values())) == len(group_of_cluster), "one-to-one"


def test_how_often_the_pseudo_labels_named_the_truth_is_reported_after_training(
    smile_run, tiny_data
):
    """Read from the first and last refresh against the training scans' classes, per fold,
    and logged as a mean and std over folds beside the test metrics."""
    result, _, _, _ = smile_run
    finals = []
    for fold in result.folds:
        train_rows, _ = tiny_data.split(fold.fold)
        truth = np.array([tiny_data.classes[i] for i in tiny_data.labels[train_rows]])
        refreshes = fold.extra["pseudo_label_refreshes"]
        initial = np.mean(truth == np.array(refreshes[0]["prompt_group"]))
        final = np.mean(truth == np.array(refreshes[-1]["prompt_group"]))
        assert fold.extra["metrics"] == pytest.approx(
            {"pseudo_labels/agreement_initial": initial, "pseudo_labels/agreement_final": final}
        )
        finals.append(final)
    metrics = result.final_metrics()
    assert metrics["pseudo_labels/agreement_final_mean"] == pytest.approx(np.mean(finals))
    assert metrics["pseudo_labels/agreement_final_std"] == pytest.approx(np.std(finals))


def test_pseudo_label_agreement_counts_right_and_wrong_names(tiny_data):
    rows = np.arange(len(tiny_data.labels))
    ids = list(tiny_data.samples["sample_id"])
    truth = [tiny_data.classes[i] for i in tiny_data.labels]
    wrong = [tiny_data.classes[(i + 1) % len(tiny_data.classes)] for i in tiny_data.labels]
    half = truth[: len(truth) // 2] + wrong[len(truth) // 2 :]
    refreshes = [
        {"sample_id": ids, "prompt_group": truth},
        {"sample_id": ids, "prompt_group": half},
    ]

    agreement = smile.pseudo_label_agreement(refreshes, tiny_data, rows)

    assert agreement["pseudo_labels/agreement_initial"] == 1.0
    assert agreement["pseudo_labels/agreement_final"] == pytest.approx(0.5, abs=1 / len(ids))
    # training rows in another order than the refresh log: matched by sample id, not position
    assert smile.pseudo_label_agreement(refreshes, tiny_data, rows[::-1]) == agreement
    # prompt groups that are not the classes (a custom bank) cannot be scored
    other = [{"sample_id": ids, "prompt_group": ["something else"] * len(ids)}]
    assert smile.pseudo_label_agreement(other, tiny_data, rows) == {}
    assert smile.pseudo_label_agreement([], tiny_data, rows) == {}


def test_every_sample_trains_with_a_sentence_of_its_pseudo_labels_group(
    smile_run, descriptive_bank
):
    result, _, cfg, calls = smile_run
    tokenizer = get_tokenizer(cfg.model.backbone.name)
    groups = list(dict.fromkeys(descriptive_bank["class_name"]))
    sentences = {
        g: tokenizer(list(descriptive_bank.loc[descriptive_bank.class_name == g, "prompt"]))
        for g in groups
    }
    for fold, call in zip(result.folds, calls, strict=True):
        last = fold.extra["pseudo_label_refreshes"][-1]
        dataset = call["dataset"]
        assert dataset.has_prompts
        for i in range(len(dataset)):
            item = dataset[i]
            group = last["prompt_group"][i]
            assert item.prompt_id == groups.index(group)
            assert (sentences[group] == item.tokens).all(dim=1).any(), "a sentence of the group"


def test_the_generic_prompt_ablation_gives_every_sample_the_one_generic_prompt(
    tiny_data, descriptive_bank, make_params
):
    cfg = smile_config(make_params, train={"epochs": 1}, pseudo_labels={"prompts": "generic"})
    ids = list(tiny_data.samples["sample_id"])

    with spy_on_training() as calls:
        fitted = smile.fit(tiny_data.views, ids, descriptive_bank, cfg)

    generic = get_tokenizer(cfg.model.backbone.name)([GENERIC_PROMPT])[0]
    dataset = calls[0]["dataset"]
    for i in range(len(dataset)):
        assert torch.equal(dataset[i].tokens, generic)
        assert dataset[i].prompt_id == 0
    assert fitted.refreshes == [], "nothing is clustered in the generic ablation"
    assert len(fitted.history) == 1


def test_an_unknown_prompt_mode_is_refused(tiny_data, descriptive_bank, make_params):
    cfg = smile_config(make_params, pseudo_labels={"prompts": "augmented"})
    with pytest.raises(ValueError, match="descriptive | generic"):
        smile.fit(tiny_data.views[:6], [str(i) for i in range(6)], descriptive_bank, cfg)


# ---- evaluation ----------------------------------------------------------------------------------


def test_evaluation_predicts_by_linear_probe_knn_and_zero_shot(smile_run, tiny_data):
    result, _, _, _ = smile_run
    assert result.evaluations == [PRIMARY, "knn", "zero_shot"]
    for fold in result.folds:
        _, test_rows = tiny_data.split(fold.fold)
        assert set(fold.predictions) == {PRIMARY, "knn", "zero_shot"}
        for predicted in fold.predictions.values():
            assert predicted.shape == (len(test_rows),)
            assert set(predicted.tolist()) <= set(range(len(tiny_data.classes)))


def test_the_linear_probe_separates_the_easy_synthetic_classes(smile_run, tiny_data):
    result, _, _, _ = smile_run
    chance = 1 / len(tiny_data.classes)
    assert result.final_metrics()["test/accuracy_mean"] > 2 * chance


def test_final_metrics_name_every_evaluation(smile_run):
    result, _, _, _ = smile_run
    metrics = result.final_metrics()

    for prefix in ("test/", "test/knn/", "test/zero_shot/"):
        for name in ("accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"):
            assert prefix + name in metrics
        for label in result.classes:
            assert f"{prefix}recall/{label}" in metrics
    knn = [np.mean(f.predictions["knn"] == f.y_true) for f in result.folds]
    assert metrics["test/knn/accuracy_mean"] == pytest.approx(np.mean(knn))


def test_history_and_predictions_frames(smile_run, tiny_data):
    result, _, _, _ = smile_run
    history = result.history_frame()
    predictions = result.predictions_frame()

    assert len(history) == MAX_FOLDS * EPOCHS
    assert not history.duplicated(["fold", "epoch"]).any()
    assert {"loss/bt", "loss/vl", "loss/red"} <= set(history.columns)
    n_tested = sum(len(tiny_data.split(f.fold)[1]) for f in result.folds)
    assert len(predictions) == n_tested
    assert {"pred_primary", "pred_knn", "pred_zero_shot"} <= set(predictions.columns)


def test_the_result_pickles_without_torch(smile_run):
    result, _, _, _ = smile_run
    payload = pickle.dumps(result)

    assert b"torch" not in payload
    assert pickle.loads(payload).final_metrics() == result.final_metrics()


# ---- ablation switches and configuration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "term"), [("lambda1", "loss/vl"), ("lambda2", "loss/red"), ("w_bt", "loss/bt")]
)
def test_a_zero_loss_weight_removes_its_term(
    weight, term, tiny_data, descriptive_bank, make_params
):
    cfg = smile_config(make_params, train={"epochs": 1}, loss={weight: 0.0})
    ids = list(tiny_data.samples["sample_id"])

    fitted = smile.fit(tiny_data.views, ids, descriptive_bank, cfg)

    (record,) = fitted.history
    assert term not in record
    others = {"loss/bt", "loss/vl", "loss/red"} - {term}
    assert others <= set(record)
    assert record["loss"] == pytest.approx(sum(record[t] for t in others), rel=1e-5)
    if term == "loss/vl":
        assert not any(k.startswith("stat/vl") for k in record)


@pytest.mark.parametrize("dim", [0, 16])
def test_barlow_twins_runs_on_a_trained_projection_when_bt_projector_dim_is_set(
    dim, tiny_data, descriptive_bank, make_params, monkeypatch
):
    cfg = smile_config(make_params, train={"epochs": 1}, loss={"bt_projector_dim": dim})
    seen = []
    real_train = smile.train

    def spy(model, loss, dataset, train_cfg, **kwargs):
        projector = loss.bt.projector
        before = None if projector is None else copy.deepcopy(projector.state_dict())
        seen.append((model.embed_dim, projector, before))
        return real_train(model, loss, dataset, train_cfg, **kwargs)

    monkeypatch.setattr(smile, "train", spy)
    smile.fit(tiny_data.views, list(tiny_data.samples["sample_id"]), descriptive_bank, cfg)

    ((embed_dim, projector, before),) = seen
    if dim == 0:
        assert projector is None
        return
    assert (projector.hidden.in_features, projector.out.out_features) == (embed_dim, dim)
    after = projector.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "the projector did not train"


def test_a_resumed_run_gets_its_prompts_back_and_carries_on(
    tmp_path, tiny_data, descriptive_bank, make_params
):
    ids = list(tiny_data.samples["sample_id"])
    first = smile_config(
        make_params, train={"epochs": 1}, execution={"checkpoint_dir": str(tmp_path)}
    )
    before_the_kill = smile.fit(tiny_data.views, ids, descriptive_bank, first)
    (checkpoint,) = tmp_path.glob("run-*/epoch_0001.pt")  # the first run's keyed folder
    # a longer run is another run (its schedule differs): it resumes only from a named file
    resumed_cfg = smile_config(
        make_params,
        train={"epochs": 2},
        execution={"checkpoint_dir": str(tmp_path), "resume": str(checkpoint)},
        pseudo_labels={"refresh_every": 2},
    )

    resumed = smile.fit(tiny_data.views, ids, descriptive_bank, resumed_cfg)

    assert [r["epoch"] for r in resumed.history] == [1.0, 2.0]
    assert "loss/vl" in resumed.history[-1]
    # the pseudo-label prompts of epoch 0 come back from the checkpoint: no refresh at epoch 1,
    # and the record of epoch 0's refresh comes back too
    assert [r["epoch"] for r in resumed.refreshes] == [0]
    assert resumed.refreshes == before_the_kill.refreshes


def test_a_hand_built_config_still_trains_on_pseudo_labels(tiny_data, descriptive_bank):
    cfg = SmileConfig(
        model=MultiviewCLIPConfig(backbone=BackboneConfig("facevlm-tiny", pretrained=None)),
        train=TrainConfig(epochs=1),  # loss_labels left at its default
        execution=ExecutionConfig(progress=False),
    )
    with spy_on_training(fake=True) as calls:
        smile.fit(tiny_data.views[:6], [str(i) for i in range(6)], descriptive_bank, cfg)

    assert calls[0]["cfg"].loss_labels == "prompt_ids"


def test_from_params_refuses_unknown_keys_and_pins_the_loss_labels():
    with pytest.raises(ValueError, match=r"\['refresh'\]"):
        SmileConfig.from_params({"pseudo_labels": {"refresh": 3}})
    cfg = SmileConfig.from_params({"train": {"loss_labels": "labels"}})
    assert cfg.train.loss_labels == "prompt_ids"
    assert isinstance(cfg, ExperimentConfig)

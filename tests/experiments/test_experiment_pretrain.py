"""CLIP-style pretraining of the backbone on a captioned corpus: the caption mix, the config, and
a weight file that the model pipelines can load like downloaded weights."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import open_clip
import pytest
import torch

from facevlm.experiments import pretrain
from facevlm.experiments.pretrain import PretrainConfig, pretrain_backbone, weighted_captions
from facevlm.models.augment import AugmentConfig
from facevlm.models.backbone import BackboneConfig, create_backbone
from facevlm.trainer import ExecutionConfig, TrainConfig, TrainHistory

TINY = "facevlm-tiny"
SIZE = 64  # facevlm-tiny's input side
CLASSES = ["happiness", "anger"]
N_SUBJECTS, PER_SUBJECT, N_VIEWS = 4, 4, 2

CAPTIONS = {
    "happiness": (
        ["a happy face", "a smiling person", "a face showing joy"],
        ["a face with pulled-up lip corners", "a face with raised cheeks"],
    ),
    "anger": (
        ["an angry face", "a furious person"],
        ["a face with a furrowed brow"],
    ),
}


# ---------------------------------------------------------------------------------------------
# weighted_captions


def _emotion(n: int) -> list[str]:
    return [f"emotion {i}" for i in range(n)]


def _action(n: int) -> list[str]:
    return [f"action {i}" for i in range(n)]


def _action_fraction(captions: list[str]) -> float:
    return sum(c.startswith("action") for c in captions) / len(captions)


def _fraction_with_repeats(n_emotion: int, n_action: int, r_emotion: float, r_action: float):
    return n_action * r_action / (n_action * r_action + n_emotion * r_emotion)


@pytest.mark.parametrize(
    ("n_emotion", "n_action", "share"),
    [(20, 4, 0.5), (3, 3, 0.75), (4, 12, 0.25), (10, 10, 0.5), (6, 2, 0.8)],
)
def test_exact_shares_are_met_exactly(n_emotion, n_action, share):
    captions = weighted_captions(_emotion(n_emotion), _action(n_action), share)

    assert _action_fraction(captions) == pytest.approx(share, abs=1e-12)


@pytest.mark.parametrize(
    ("n_emotion", "n_action", "share"),
    [(7, 3, 0.5), (20, 3, 0.4), (2, 9, 0.3), (5, 4, 0.9), (13, 2, 0.05), (3, 1, 0.66)],
)
def test_other_shares_are_met_up_to_rounding_a_repeat_count(n_emotion, n_action, share):
    """Each caption of one kind is repeated a whole number of times; the share is off by at most
    what rounding that repeat count (by at most one half) can change."""
    captions = weighted_captions(_emotion(n_emotion), _action(n_action), share)

    counts = Counter(captions)
    emotion_repeats = {counts[c] for c in _emotion(n_emotion)}
    action_repeats = {counts[c] for c in _action(n_action)}
    assert len(emotion_repeats) == 1 and len(action_repeats) == 1, "every caption equally often"
    (r_emotion,), (r_action,) = emotion_repeats, action_repeats
    assert min(r_emotion, r_action) == 1, "the smallest repeats: one kind appears once"
    assert len(captions) == n_emotion * r_emotion + n_action * r_action

    # the repeat of the other kind that would give ``share`` exactly
    ideal_ratio = share / (1 - share) * n_emotion / n_action  # r_action / r_emotion
    if r_emotion == 1:
        ideal, lo, hi = ideal_ratio, (1, r_action - 0.5), (1, r_action + 0.5)
        assert abs(r_action - ideal) <= 0.5
    else:
        ideal, lo, hi = 1 / ideal_ratio, (r_emotion + 0.5, 1), (r_emotion - 0.5, 1)
        assert abs(r_emotion - ideal) <= 0.5
    lowest = _fraction_with_repeats(n_emotion, n_action, *lo)
    highest = _fraction_with_repeats(n_emotion, n_action, *hi)
    assert lowest <= share <= highest
    assert lowest <= _action_fraction(captions) <= highest


def test_share_zero_gives_the_emotion_captions_only():
    assert weighted_captions(_emotion(3), _action(2), 0.0) == _emotion(3)


def test_share_one_gives_the_action_captions_only():
    assert weighted_captions(_emotion(3), _action(2), 1.0) == _action(2)


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_without_action_captions_the_emotion_captions_are_used(share):
    assert weighted_captions(_emotion(4), [], share) == _emotion(4)


def test_without_emotion_captions_the_action_captions_are_used():
    assert weighted_captions([], _action(2), 0.5) == _action(2)


def test_every_caption_is_kept():
    captions = weighted_captions(_emotion(5), _action(3), 0.2)

    assert set(captions) == set(_emotion(5)) | set(_action(3))


# ---------------------------------------------------------------------------------------------
# PretrainConfig


@pytest.mark.parametrize("share", [-0.1, 1.01])
def test_config_rejects_an_action_share_outside_zero_to_one(share):
    with pytest.raises(ValueError, match="action_share"):
        PretrainConfig(action_share=share)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_config_accepts_the_extreme_action_shares(share):
    assert PretrainConfig(action_share=share).action_share == share


def test_config_rejects_a_negative_number_of_holdout_subjects():
    with pytest.raises(ValueError, match="holdout_subjects"):
        PretrainConfig(holdout_subjects=-1)


def test_config_from_params_builds_the_nested_training_config():
    cfg = PretrainConfig.from_params(
        {"classes": CLASSES, "holdout_subjects": 0, "train": {"epochs": 2, "betas": [0.9, 0.99]}}
    )

    assert cfg.classes == CLASSES
    assert cfg.holdout_subjects == 0
    assert isinstance(cfg.train, TrainConfig)
    assert cfg.train.epochs == 2
    assert cfg.train.betas == (0.9, 0.99)


def test_config_from_params_builds_the_augmentation_and_has_none_by_default():
    cfg = PretrainConfig.from_params({"augment": {"crop_p": 0.7, "crop_scale": [0.8, 1.25]}})

    assert isinstance(cfg.augment, AugmentConfig)
    assert cfg.augment.crop_p == 0.7
    assert tuple(cfg.augment.crop_scale) == (0.8, 1.25)
    assert PretrainConfig.from_params({}).augment is None


@pytest.mark.parametrize(
    "params",
    [{"learning_rate": 1e-3}, {"train": {"epoch": 2}}],
    ids=["top-level", "nested"],
)
def test_config_from_params_rejects_unknown_keys(params):
    with pytest.raises(ValueError, match="unknown"):
        PretrainConfig.from_params(params)


# ---------------------------------------------------------------------------------------------
# pretrain_backbone


def _corpus(seed: int = 0):
    """16 samples: 4 subjects x (2 happiness + 2 anger), 2 random 64 px views each."""
    rng = np.random.default_rng(seed)
    n = N_SUBJECTS * PER_SUBJECT
    views = rng.integers(0, 256, (n, N_VIEWS, SIZE, SIZE, 3), dtype=np.uint8)
    subjects = [f"S{i // PER_SUBJECT}" for i in range(n)]
    expressions = [CLASSES[i % 2] for i in range(n)]
    captions = [CAPTIONS[e] for e in expressions]
    return views, expressions, subjects, captions


def _config(**changes) -> PretrainConfig:
    train = TrainConfig(
        epochs=1,
        batch_size=8,
        lr_backbone=1e-3,
        warmup_epochs=0.0,
    )
    execution = ExecutionConfig(progress=False, device="cpu", cpu_threads=1)
    return PretrainConfig(
        **{
            "classes": CLASSES,
            "holdout_subjects": 1,
            "train": train,
            "execution": execution,
            **changes,
        }
    )


def _fake_train(seen: list):
    """A stand-in for the training loop that records the dataset and trains nothing."""

    def fake(model, loss, dataset, cfg, **kwargs):
        seen.append(dataset)
        return TrainHistory()

    return fake


@pytest.fixture(scope="module")
def pretrained():
    return pretrain_backbone(*_corpus(), _config())


def test_the_state_dict_is_a_complete_backbone_of_the_architecture(pretrained):
    reference = open_clip.create_model(TINY).state_dict()

    assert pretrained.architecture == TINY
    assert set(pretrained.state_dict) == set(reference)
    for name, tensor in reference.items():
        assert pretrained.state_dict[name].shape == tensor.shape, name
        assert pretrained.state_dict[name].device.type == "cpu"
    assert all(torch.isfinite(t).all() for t in pretrained.state_dict.values())


def test_history_has_one_record_per_epoch(pretrained):
    assert len(pretrained.history) == 1
    assert pretrained.history[0]["epoch"] == 1
    assert np.isfinite(pretrained.history[0]["loss"])


def test_zero_shot_accuracy_is_measured_on_the_held_out_subject(pretrained):
    accuracy = pretrained.holdout_zero_shot

    assert isinstance(accuracy, float)
    assert 0.0 <= accuracy <= 1.0
    # one held-out subject has PER_SUBJECT samples: the accuracy is a count of them
    assert accuracy * PER_SUBJECT == pytest.approx(round(accuracy * PER_SUBJECT))


def test_the_weights_load_into_a_fresh_backbone_from_a_file(pretrained, tmp_path):
    path = tmp_path / "pretrained.pt"
    torch.save(pretrained.state_dict, path)

    model, _, _ = create_backbone(BackboneConfig(name=TINY, pretrained=str(path)))

    loaded = model.state_dict()
    assert set(loaded) == set(pretrained.state_dict)
    for name, tensor in pretrained.state_dict.items():
        assert torch.equal(loaded[name], tensor), name


def test_the_returned_weights_are_the_trained_ones(pretrained, monkeypatch):
    """With the training loop skipped the result is the initialisation, which differs."""
    monkeypatch.setattr(pretrain, "train", _fake_train([]))

    untrained = pretrain_backbone(*_corpus(), _config())

    assert set(untrained.state_dict) == set(pretrained.state_dict)
    assert any(
        not torch.equal(tensor, pretrained.state_dict[name])
        for name, tensor in untrained.state_dict.items()
    )


def test_the_same_config_gives_the_same_weights_on_cpu(pretrained):
    again = pretrain_backbone(*_corpus(), _config())

    assert set(again.state_dict) == set(pretrained.state_dict)
    for name, tensor in pretrained.state_dict.items():
        assert torch.equal(again.state_dict[name], tensor), name
    assert again.holdout_zero_shot == pretrained.holdout_zero_shot
    assert again.history[0]["loss"] == pretrained.history[0]["loss"]


def test_the_zero_shot_check_leaves_the_trained_weights_as_they_are(monkeypatch):
    """Embedding the held-out subjects and their prompts must not touch the weights (nor buffers
    such as batch-norm statistics): the saved backbone is the one training produced."""
    after_training = {}
    real_train = pretrain.train

    def spy(model, loss, dataset, cfg, **kwargs):
        history = real_train(model, loss, dataset, cfg, **kwargs)
        after_training.update({k: v.detach().clone() for k, v in model.clip.state_dict().items()})
        return history

    monkeypatch.setattr(pretrain, "train", spy)

    result = pretrain_backbone(*_corpus(), _config())

    assert result.holdout_zero_shot is not None
    assert set(result.state_dict) == set(after_training)
    for name, tensor in after_training.items():
        assert torch.equal(result.state_dict[name], tensor), name


def test_the_held_out_subject_is_not_trained_on(monkeypatch):
    seen = []
    monkeypatch.setattr(pretrain, "train", _fake_train(seen))
    views, expressions, subjects, captions = _corpus()

    result = pretrain_backbone(views, expressions, subjects, captions, _config())

    (dataset,) = seen
    assert len(dataset) == len(views) - PER_SUBJECT
    trained_rows = [
        next(i for i in range(len(views)) if np.array_equal(views[i], v)) for v in dataset.views
    ]
    trained_subjects = {subjects[i] for i in trained_rows}
    assert len(trained_subjects) == N_SUBJECTS - 1
    assert dataset.labels == [CLASSES.index(expressions[i]) for i in trained_rows]
    assert result.holdout_zero_shot is not None


@pytest.mark.parametrize("holdout", [0, N_SUBJECTS], ids=["none", "everybody"])
def test_no_zero_shot_check_without_subjects_to_hold_out(monkeypatch, holdout):
    """``0`` holds nobody out; holding out every subject would leave nothing to train on, so
    nobody is held out either."""
    seen = []
    monkeypatch.setattr(pretrain, "train", _fake_train(seen))
    views, *rest = _corpus()

    result = pretrain_backbone(views, *rest, _config(holdout_subjects=holdout))

    assert result.holdout_zero_shot is None
    assert len(seen[0]) == len(views)


def test_expressions_outside_the_classes_are_rejected():
    views, expressions, subjects, captions = _corpus()
    expressions = ["surprise", *expressions[1:]]

    with pytest.raises(ValueError, match="surprise"):
        pretrain_backbone(views, expressions, subjects, captions, _config())


def test_an_empty_corpus_is_rejected():
    views = np.zeros((0, N_VIEWS, SIZE, SIZE, 3), dtype=np.uint8)

    with pytest.raises(ValueError, match="no samples"):
        pretrain_backbone(views, [], [], [], _config())


def test_single_views_makes_each_rendered_view_its_own_captioned_sample(monkeypatch):
    """``single_views``: every view of every trained scan becomes a one-view sample with its
    scan's label and captions, so an epoch shows the same images in ``N_VIEWS`` times the
    steps; the held-out subject stays out of every one of them."""
    seen = []
    monkeypatch.setattr(pretrain, "train", _fake_train(seen))
    views, expressions, subjects, captions = _corpus()

    pretrain_backbone(views, expressions, subjects, captions, _config(single_views=True))

    (dataset,) = seen
    assert len(dataset) == (len(views) - PER_SUBJECT) * N_VIEWS
    share = _config().action_share
    origins = []
    for sample_views, label, choices in zip(
        dataset.views, dataset.labels, dataset.state_dict()["choices"], strict=True
    ):
        assert len(sample_views) == 1
        scan, view = next(
            (i, v)
            for i in range(len(views))
            for v in range(N_VIEWS)
            if np.array_equal(views[i, v], sample_views[0])
        )
        origins.append((scan, view))
        assert label == CLASSES.index(expressions[scan])
        assert len(choices) == len(weighted_captions(*captions[scan], share))
    assert len(set(origins)) == len(origins), "each view once"
    assert len({subjects[scan] for scan, _ in origins}) == N_SUBJECTS - 1


def test_single_views_pretraining_runs_and_checks_zero_shot_on_whole_scans():
    result = pretrain_backbone(*_corpus(), _config(single_views=True))

    assert result.holdout_zero_shot is not None
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"])


def test_augmentation_changes_what_is_learned_and_is_reproducible(pretrained):
    """The framing jitter reaches the training loop: the same corpus and seed give other weights
    with it than without, and the same weights twice with it."""
    framing = AugmentConfig(flip_p=0.5, rotate_p=0.0, crop_p=1.0, crop_scale=(0.8, 1.25))

    jittered = pretrain_backbone(*_corpus(), _config(augment=framing))
    again = pretrain_backbone(*_corpus(), _config(augment=framing))

    assert any(
        not torch.equal(tensor, pretrained.state_dict[name])
        for name, tensor in jittered.state_dict.items()
    )
    for name, tensor in jittered.state_dict.items():
        assert torch.equal(again.state_dict[name], tensor), name


# ---------------------------------------------------------------------------------------------
# targets="descriptions": class-level positives for action descriptions only


def _descriptions_corpus(monkeypatch):
    seen = []
    monkeypatch.setattr(pretrain, "train", _fake_train(seen))
    views, expressions, subjects, captions = _corpus()
    pretrain_backbone(views, expressions, subjects, captions, _config(targets="descriptions"))
    (dataset,) = seen
    return dataset


def test_with_description_targets_an_emotion_caption_is_its_own_images_positive_only(monkeypatch):
    """Every draw of an emotion caption gets a label no other item has; every draw of an action
    description keeps its scan's corpus expression, over many draws of every sample."""
    torch.manual_seed(0)
    dataset = _descriptions_corpus(monkeypatch)
    emotion = {text for pair in CAPTIONS.values() for text in pair[0]}
    action = {text for pair in CAPTIONS.values() for text in pair[1]}
    tokens = {tuple(dataset.tokenizer([t])[0].tolist()): t for t in emotion | action}
    kinds = Counter()
    for _ in range(20):
        for i in range(len(dataset)):
            item = dataset[i]
            text = tokens[tuple(item.tokens.tolist())]
            if text in emotion:
                assert item.label == -2 - i
                kinds["emotion"] += 1
            else:
                assert item.label == dataset.labels[i] >= 0
                kinds["action"] += 1
    assert kinds["emotion"] and kinds["action"], "both kinds were drawn"


def test_description_targets_label_the_batched_path_the_same_way(monkeypatch):
    """The DataLoader fetches batches through ``__getitems__``: the per-draw labels hold there."""
    torch.manual_seed(0)
    dataset = _descriptions_corpus(monkeypatch)
    rows = list(range(len(dataset)))
    labels = [item.label for _ in range(10) for item in dataset.__getitems__(rows)]
    assert any(label < -1 for label in labels) and any(label >= 0 for label in labels)
    assert len({label for label in labels if label < -1}) <= len(dataset)
    for k, label in enumerate(labels):
        row = rows[k % len(rows)]
        assert label in (-2 - row, dataset.labels[row]), (row, label)


def test_description_targets_pretrain_and_differ_from_label_targets(pretrained):
    result = pretrain_backbone(*_corpus(), _config(targets="descriptions"))

    assert np.isfinite(result.history[0]["loss"])
    assert any(
        not torch.equal(tensor, pretrained.state_dict[name])
        for name, tensor in result.state_dict.items()
    )


def test_config_rejects_unknown_targets():
    with pytest.raises(ValueError, match=re.escape("labels | diagonal | descriptions")):
        PretrainConfig(targets="captions")

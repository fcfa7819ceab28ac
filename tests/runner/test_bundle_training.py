"""Training from a bundle in one process: the bundle round-trips, folds train and are reused,
a run with other parameters trains again, and the command line documents every option."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from tiny_bundles import CLASSES, TINY_EXPERIMENT, tiny_data

import facevlm.numerics
from facevlm.experiments.cross_validation import cross_validate
from facevlm.experiments.recipes import get_recipe
from facevlm.models.checkpoints import latest_checkpoint, load_checkpoint
from facevlm.prompts.augmented import plain_label_bank
from facevlm.runner.bundle_training import load_training_result, train_from_bundle
from facevlm.runner.training_bundle import (
    PRETRAINED_FILE,
    load_training_bundle,
    write_training_bundle,
)
from facevlm.scans.view_store import ViewArray
from facevlm.train import build_parser, overrides_of


def test_bundle_round_trips_views_samples_folds_prompts_and_config(make_bundle, tmp_path):
    data = tiny_data()
    folder = make_bundle("affectvlm", data=data)
    bundle = load_training_bundle(folder)
    assert bundle.model == "affectvlm" and bundle.data.classes == CLASSES
    assert isinstance(bundle.data.views, ViewArray)  # on disk, read per batch
    np.testing.assert_array_equal(np.asarray(bundle.data.views), data.views)
    np.testing.assert_array_equal(bundle.data.labels, data.labels)
    assert bundle.data.folds == [0, 1, 2]
    assert list(bundle.data.samples["sample_id"]) == list(data.samples["sample_id"])
    assert bundle.prompt_bank.equals(plain_label_bank(CLASSES))
    assert bundle.experiment_config().train.batch_size == 6
    assert not list(tmp_path.glob(".*tmp*")), "no temporary folder left"

    again = make_bundle("affectvlm", data=data)  # same content: same digest, folder replaced
    assert load_training_bundle(again).digest == bundle.digest
    other = make_bundle("affectvlm", name="other", data=tiny_data(seed=1))
    assert load_training_bundle(other).digest != bundle.digest


def test_a_fold_computed_on_another_numerical_path_is_trained_again_and_says_why(
    make_bundle, tmp_path, monkeypatch, caplog
):
    """Another thread count (or device) computes other bits: a finished fold is not reused,
    and one log line names what differs."""
    folder, out = make_bundle("affectvlm"), tmp_path / "out"
    train_from_bundle(folder, out, folds=[0], overrides={"train.epochs": 1})
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("fold_0/*.p*")}
    here = facevlm.numerics.describe()
    monkeypatch.setattr(
        facevlm.numerics, "describe", lambda device=None: here.replace("1 threads", "2 threads")
    )
    with caplog.at_level(logging.INFO):
        train_from_bundle(folder, out, folds=[0], overrides={"train.epochs": 1})
    assert {p: p.stat().st_mtime_ns for p in out.glob("fold_0/*.p*")} != stamps, "trained again"
    (line,) = [r.getMessage() for r in caplog.records if "not reused" in r.getMessage()]
    assert "fold 0" in line and "1 threads" in line and "2 threads" in line, line


def test_the_bundle_s_digest_names_the_run_folder(tmp_path):
    """One identity: the folder a pipeline run keeps its bundle in is named by the digest of
    the bundle it writes there."""
    from facevlm.runner.run import training_run

    data, bank = tiny_data(), plain_label_bank(CLASSES)
    cfg = get_recipe("affectvlm").config_type.from_params(copy.deepcopy(TINY_EXPERIMENT))
    folder = training_run(tmp_path, "affectvlm", cfg, data, bank, {})
    bundle = load_training_bundle(folder / "bundle")
    assert folder.name == f"affectvlm-{bundle.digest[:16]}"
    assert bundle.identity(bundle.experiment_config()).computes == bundle.digest


def test_a_local_weight_file_travels_inside_the_bundle(tmp_path):
    weights = tmp_path / "backbone.pt"
    torch.save({"w": torch.zeros(2)}, weights)
    experiment = {"model": {"backbone": {"name": "facevlm-tiny", "pretrained": str(weights)}}}
    folder = write_training_bundle(
        tmp_path / "b", "smile", tiny_data(), plain_label_bank(CLASSES), experiment
    )
    weights.unlink()
    bundle = load_training_bundle(folder)
    assert bundle.config["model"]["backbone"]["pretrained"] == str(folder / PRETRAINED_FILE)
    assert torch.load(folder / PRETRAINED_FILE)["w"].shape == (2,)


def test_a_folder_that_is_no_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a training bundle"):
        load_training_bundle(tmp_path)
    with pytest.raises(ValueError, match="must be one of"):
        write_training_bundle(tmp_path / "b", "clip", tiny_data(), plain_label_bank(CLASSES), {})


def test_folds_train_once_and_are_reused_until_the_parameters_change(make_bundle, tmp_path):
    folder = make_bundle("affectvlm")
    out = tmp_path / "out"
    first = train_from_bundle(folder, out)
    assert [f.fold for f in first.result.folds] == [0, 1]  # data.max_folds: 2
    assert first.model.info["fold"] == 1 and first.model.classes == CLASSES
    model, _ = first.model.build()  # the trained model rebuilds without training code
    assert sum(p.numel() for p in model.parameters()) > 0
    assert len(list(out.glob("fold_*/checkpoints/epoch_0002.pt"))) == 2  # a folder per fold
    loaded = load_training_result(out)
    assert loaded.result.final_metrics() == first.result.final_metrics()

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("fold_*/*.p*")}
    assert len(stamps) == 4  # each fold's result and model
    again = train_from_bundle(folder, out)  # finished folds: reused, nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in out.glob("fold_*/*.p*")} == stamps
    assert again.result.folds[0].history == first.result.folds[0].history

    longer = train_from_bundle(folder, out, folds=[1], overrides={"train.epochs": 3})
    assert [f.fold for f in longer.result.folds] == [1]
    assert len(longer.result.folds[0].history) == 3  # other parameters: trained again
    # the fold's checkpoints of the shorter run are replaced, neither resumed nor kept
    fold_1 = out / "fold_1" / "checkpoints"
    assert load_checkpoint(latest_checkpoint(fold_1))["epoch"] == 3
    identity = json.loads((fold_1 / "identity.json").read_text())
    assert identity["described"]["config"]["epochs"] == 3
    assert latest_checkpoint(out / "fold_0" / "checkpoints").name == "epoch_0002.pt"


@pytest.mark.parametrize("model", ["affectvlm", "smile"])
def test_a_fold_trained_from_the_bundle_is_the_in_process_loops_to_the_bit(
    make_bundle, tmp_path, model
):
    """Both train a fold with the one fold step (``train_fold``): the runner's checkpoints and
    result files change nothing in what is computed."""
    folder = make_bundle(model)
    trained = train_from_bundle(folder, tmp_path / "out")
    bundle = load_training_bundle(folder)
    looped, _ = cross_validate(
        get_recipe(model), bundle.data, bundle.prompt_bank, bundle.experiment_config()
    )
    assert len(trained.result.folds) == len(looped.folds) == 2
    for fold, other in zip(trained.result.folds, looped.folds, strict=True):
        assert fold.fold == other.fold and fold.test_sample_ids == other.test_sample_ids
        untimed = [{k: v for k, v in r.items() if k != "time_s"} for r in fold.history]
        assert untimed == [{k: v for k, v in r.items() if k != "time_s"} for r in other.history]
        assert fold.predictions.keys() == other.predictions.keys()
        for name, predicted in fold.predictions.items():
            np.testing.assert_array_equal(predicted, other.predictions[name])
        np.testing.assert_array_equal(fold.test_embeddings, other.test_embeddings)


def test_unknown_folds_and_parameters_are_clear_errors(make_bundle, tmp_path):
    folder = make_bundle("smile")
    with pytest.raises(ValueError, match=r"no fold\(s\) \[7\]"):
        train_from_bundle(folder, tmp_path / "out", folds=[7])
    with pytest.raises(ValueError, match="unknown parameter"):
        train_from_bundle(folder, tmp_path / "out", overrides={"train.epoch": 3})


def test_command_line_options_become_overrides():
    args = build_parser().parse_args(
        [
            "B",
            "--out",
            "O",
            "--fold",
            "2",
            "--fold",
            "3",
            "--epochs",
            "5",
            "--compile",
            "--set",
            "loss.w_mt=0",
            "--set",
            "model.fusion=mean",
            "--no-resume",
        ]
    )
    assert args.folds == [2, 3] and args.no_resume
    assert overrides_of(args) == {
        "loss.w_mt": 0,
        "model.fusion": "mean",
        "train.epochs": 5,
        "execution.compile": True,
    }


def test_help_documents_every_option():
    done = subprocess.run(
        [sys.executable, "-m", "facevlm.train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for action in build_parser()._actions:
        for option in action.option_strings:
            assert option in done.stdout
        assert action.help and action.help in " ".join(done.stdout.split()) or action.help is None

"""CPU training side by side: a run's jobs (its folds, its final fit) trained by processes of
their own give what one process training them one after another gives, to the bit; each step
trains what its name says and reads back what another trained; how many processes a setting
asks for."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from tiny_bundles import TINY_EXPERIMENT, prompt_bank, tiny_data

import facevlm.numerics
from facevlm.experiments.recipes import get_recipe
from facevlm.runner.run import (
    FINAL_FIT,
    run_cross_validation,
    run_final_fit,
    train_jobs,
    training_run,
)
from facevlm.runner.side_by_side import PROCESSES_VARIABLE, side_by_side_processes


def _config(model: str, cpu_processes):
    experiment = copy.deepcopy(TINY_EXPERIMENT)
    experiment["execution"]["cpu_processes"] = cpu_processes
    return get_recipe(model).config_type.from_params(experiment)


def _untimed(history):
    return [{k: v for k, v in record.items() if k != "time_s"} for record in history]


def _cross_validate_then_fit_final(model, cpu_processes, runs_dir, jobs_first=()):
    """The training nodes' two steps, cross-validation then the final fit on every subject,
    after ``train_jobs`` trained ``jobs_first`` of the same run."""
    data, bank = tiny_data(), prompt_bank(model)
    cfg = _config(model, cpu_processes)
    if jobs_first:
        train_jobs(training_run(runs_dir, model, cfg, data, bank, {}), jobs_first, cfg)
    trained = run_cross_validation(model, data, bank, cfg, {}, runs_dir)
    fitted, _ = run_final_fit(runs_dir, model, copy.deepcopy(cfg), data, bank, {})
    return trained.result, fitted


@pytest.mark.slow
def test_folds_and_final_fit_side_by_side_are_one_process_s_to_the_bit(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.delenv(PROCESSES_VARIABLE, raising=False)  # the suite's own setting: off
    model = "smile"  # pseudo-labels refreshed during training: the most state to carry
    with caplog.at_level(logging.INFO):
        alone, alone_final = _cross_validate_then_fit_final(model, None, tmp_path / "alone")
    assert "side by side" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        side, side_final = _cross_validate_then_fit_final(
            model, 2, tmp_path / "side", jobs_first=[0, 1, FINAL_FIT]
        )
    log = caplog.text
    assert "2 fold(s) and the final fit trained by 2 processes side by side" in log
    assert "fold 0: finished earlier, result reused" in log, "cross-validation reads them back"
    assert "resumed from" in log and "(2 of 2 epochs done)" in log, "the final fit: read back"

    assert [f.fold for f in side.folds] == [f.fold for f in alone.folds] == [0, 1]
    for fold, other in zip(side.folds, alone.folds, strict=True):
        assert _untimed(fold.history) == _untimed(other.history)
        for name, predicted in fold.predictions.items():
            np.testing.assert_array_equal(predicted, other.predictions[name])
        np.testing.assert_array_equal(fold.test_embeddings, other.test_embeddings)
    assert _untimed(side_final.history) == _untimed(alone_final.history)
    side_weights = side_final.model.state_dict()
    for name, tensor in alone_final.model.state_dict().items():
        assert torch.equal(side_weights[name], tensor), name


def test_cross_validation_trains_the_folds_only_and_the_final_fit_its_own(
    tmp_path, monkeypatch, caplog
):
    """Each step trains what its name says: the cross-validation leaves the final fit's folder
    alone, and the final fit trains there without touching the folds."""
    monkeypatch.setenv(PROCESSES_VARIABLE, "1")
    model, runs = "affectvlm", tmp_path / "runs"
    data, bank = tiny_data(), prompt_bank(model)
    cfg = _config(model, None)
    cfg.train.epochs = 1
    run_cross_validation(model, data, bank, cfg, {}, runs)
    (folder,) = runs.iterdir()
    assert not (folder / "final").exists()
    folds = {p: p.stat().st_mtime_ns for p in (folder / "training").rglob("*.p*")}
    run_final_fit(runs, model, copy.deepcopy(cfg), data, bank, {})
    assert sorted(p.name for p in (folder / "final" / "checkpoints").glob("epoch_*.pt")) == [
        "epoch_0001.pt"
    ]
    assert {p: p.stat().st_mtime_ns for p in (folder / "training").rglob("*.p*")} == folds


def test_how_many_processes_a_setting_asks_for(monkeypatch):
    monkeypatch.delenv(PROCESSES_VARIABLE, raising=False)
    monkeypatch.setattr("facevlm.runner.side_by_side.unpinned_libraries", lambda: [])
    monkeypatch.setattr("facevlm.runner.side_by_side.available_cores", lambda: 8)
    assert side_by_side_processes(None, jobs=6, threads=1) == 1  # this process
    assert side_by_side_processes(1, jobs=6, threads=1) == 1
    assert side_by_side_processes("auto", jobs=6, threads=1) == 6  # no more than the jobs
    assert side_by_side_processes("auto", jobs=6, threads=2) == 4  # a share of the cores each
    assert side_by_side_processes("auto", jobs=6, threads=16) == 1
    assert side_by_side_processes(3, jobs=6, threads=1) == 3
    monkeypatch.setenv(PROCESSES_VARIABLE, "1")  # the variable wins over the parameter
    assert side_by_side_processes("auto", jobs=6, threads=1) == 1
    monkeypatch.setenv(PROCESSES_VARIABLE, "many")
    with pytest.raises(ValueError, match="cpu_processes must be auto, null or a count"):
        side_by_side_processes(None, jobs=6, threads=1)


def test_a_process_whose_libraries_loaded_unpinned_trains_alone(monkeypatch, caplog):
    """New processes load numpy and torch on the pinned path; one that loaded them before the
    pin computes other bits, and processes beside it would give folds it cannot reuse."""
    monkeypatch.delenv(PROCESSES_VARIABLE, raising=False)
    monkeypatch.setattr("facevlm.runner.side_by_side.available_cores", lambda: 8)
    monkeypatch.setattr("facevlm.runner.side_by_side.unpinned_libraries", lambda: ["numpy"])
    with caplog.at_level(logging.WARNING):
        assert side_by_side_processes("auto", jobs=6, threads=1) == 1
    assert "numpy loaded before facevlm pinned the numerical path" in caplog.text


def test_a_final_fit_computed_on_another_numerical_path_trains_again_and_says_why(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv(PROCESSES_VARIABLE, "1")
    model, runs = "affectvlm", tmp_path / "runs"
    data, bank = tiny_data(), prompt_bank(model)
    cfg = _config(model, None)
    cfg.train.epochs = 1
    run_final_fit(runs, model, copy.deepcopy(cfg), data, bank, {})
    here = facevlm.numerics.describe()
    monkeypatch.setattr(
        facevlm.numerics, "describe", lambda device=None: here.replace("1 threads", "2 threads")
    )
    with caplog.at_level(logging.INFO):
        run_final_fit(runs, model, copy.deepcopy(cfg), data, bank, {})
    (line,) = [r.getMessage() for r in caplog.records if "not reused" in r.getMessage()]
    assert "final fit" in line and "1 threads" in line and "2 threads" in line, line
    assert "resumed from" not in caplog.text, "trained again, not continued"

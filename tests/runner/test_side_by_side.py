"""CPU training side by side: a run's folds and its final fit trained by processes of their own
give what one process training them one after another gives, to the bit, and the final-fit
step then trains nothing; how many processes a setting asks for."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from tiny_bundles import TINY_EXPERIMENT, prompt_bank, tiny_data

from facevlm.experiments.cross_validation import fit_final
from facevlm.experiments.recipes import get_recipe
from facevlm.runner.run import checkpoint_final_fit, run_cross_validation
from facevlm.runner.side_by_side import PROCESSES_VARIABLE, side_by_side_processes


def _config(model: str, cpu_processes):
    experiment = copy.deepcopy(TINY_EXPERIMENT)
    experiment["execution"]["cpu_processes"] = cpu_processes
    return get_recipe(model).config_type.from_params(experiment)


def _untimed(history):
    return [{k: v for k, v in record.items() if k != "time_s"} for record in history]


def _train_and_fit_final(model, cpu_processes, runs_dir):
    """The training node's two steps: cross-validation, then the final fit on every subject."""
    data, bank = tiny_data(), prompt_bank(model)
    cfg = _config(model, cpu_processes)
    trained = run_cross_validation(model, data, bank, cfg, {}, runs_dir, final_fit=True)
    final_cfg = copy.deepcopy(cfg)
    bundle_data = checkpoint_final_fit(runs_dir, model, final_cfg, data, bank)
    final = fit_final(get_recipe(model), bundle_data, bank, final_cfg)
    return trained.result, final


@pytest.mark.slow
def test_folds_and_final_fit_side_by_side_are_one_process_s_to_the_bit(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.delenv(PROCESSES_VARIABLE, raising=False)  # the suite's own setting: off
    model = "smile"  # pseudo-labels refreshed during training: the most state to carry
    alone, alone_final = _train_and_fit_final(model, None, tmp_path / "alone")
    with caplog.at_level(logging.INFO):
        side, side_final = _train_and_fit_final(model, 2, tmp_path / "side")
    log = caplog.text
    assert "2 fold(s) and the final fit trained by 2 processes side by side" in log
    assert "resumed from" in log and "(2 of 2 epochs done)" in log, "the final fit trains nothing"

    assert [f.fold for f in side.folds] == [f.fold for f in alone.folds] == [0, 1]
    for fold, other in zip(side.folds, alone.folds, strict=True):
        assert _untimed(fold.history) == _untimed(other.history)
        for name, predicted in fold.predictions.items():
            np.testing.assert_array_equal(predicted, other.predictions[name])
        np.testing.assert_array_equal(fold.test_embeddings, other.test_embeddings)
    assert _untimed(side_final.fitted.history) == _untimed(alone_final.fitted.history)
    side_weights = side_final.fitted.model.state_dict()
    for name, tensor in alone_final.fitted.model.state_dict().items():
        assert torch.equal(side_weights[name], tensor), name


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

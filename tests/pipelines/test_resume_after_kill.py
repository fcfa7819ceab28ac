"""A rerun of the same `kedro run` finds its training run again and resumes it, pretraining
included, on copies of the shared tiny project (its data stages and caches already made).

- The final fit on every subject checkpoints into the same folder: run again, it trains nothing
  (on toy data, with a real runner).
- A real `kedro run --pipeline=pretrain` killed (SIGKILL of its process group) and run again
  continues from its last checkpoint; `kedro run --pipeline=train_smile` killed in the second
  fold and run again reads the finished fold back and continues the interrupted one from its
  epoch checkpoint; the logs say so, and the backbone, every metric, each fold's history and
  test embeddings and the resumed fold's weights equal an uninterrupted run's (identical on
  CPU). The rerun has the killed run's training-run key, although every `kedro run` saves
  the pretrained backbone under a new versioned path. The node trains through
  ``train_from_bundle``, what ``python -m facevlm.train`` runs on a cluster, so this checks the
  resumption of both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from shared_project_runs import tiny_run_params

from facevlm.runner.bundle_training import load_training_result
from preloaded_python import PreloadedProcess, start_preloaded

RUNS = Path("data/06_models/training_runs")
PRETRAIN_CACHE = Path("data/02_intermediate/pretrain_cache")
WEIGHTS = Path("data/06_models/pretrained_backbone.pt")
STORE = Path("pretrained")  # the backbones by recipe (pretraining.store)
SUMMARY = Path("data/08_reporting/smile/summary.json")

#: What the killed runs change from the shared run, as a person types it: two folds of three
#: epochs, three epochs of pretraining, each epoch checkpointed (another pretraining and other
#: runs than the shared project's, so nothing of them is cached yet). Each run is killed as soon
#: as its first checkpoint is written, so an epoch that remains after it is all a resumption
#: needs; every further epoch is paid three times (uninterrupted, killed, resumed).
KILL_PARAMS = {
    "smile.experiment.data.max_folds": "null",
    "smile.experiment.train.epochs": "3",
    "smile.experiment.execution.checkpoint_every": "1",  # a checkpoint to resume from mid-fold
    "smile.final_fit": "false",
    "smile.baseline": "false",
    "pretraining.training.train.epochs": "3",
    "pretraining.training.execution.checkpoint_every": "1",
}


def _versions(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []


def _one_line(log: str) -> str:
    """The log with its records' line wrapping undone (a console handler may still wrap)."""
    return " ".join(log.split())


def _kedro_run(project: Path, log: Path, pipeline: str = "train_smile") -> PreloadedProcess:
    """``kedro run --pipeline=<pipeline> --params=...`` in a process group of its own, its log
    to ``log`` (forked from a Python with the libraries imported: tests/preloaded_python.py)."""
    params = ",".join(f"{k}={v}" for k, v in KILL_PARAMS.items())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    return start_preloaded(
        "-m",
        "kedro",
        "run",
        f"--pipeline={pipeline}",
        f"--params={params}",
        cwd=project,
        env=env,
        stdout=log,
        new_session=True,  # its own process group, killed as one
    )


def _kill_when(run: PreloadedProcess, ready: Callable[[], bool], log: Path) -> None:
    """SIGKILL the run's process group as soon as ``ready()``; fails if it ended first."""
    try:
        deadline = time.monotonic() + 600
        while not ready():
            assert run.poll() is None, f"ended before it was killed:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "never got there"
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()


def _finish(run: PreloadedProcess, log: Path) -> str:
    assert run.wait(timeout=900) == 0, log.read_text()[-5000:]
    return _one_line(log.read_text())


def _pretraining_checkpoints(project: Path) -> list[Path]:
    return sorted((project / PRETRAIN_CACHE).glob("*.checkpoints/epoch_*.pt"))


def _second_fold_started(run_folder: Path) -> bool:
    """Fold 0 finished and fold 1 wrote an epoch checkpoint (each fold has its own folder)."""
    training = run_folder / "training"
    if not (training / "fold_0" / "result.pkl").exists():
        return False
    assert not (training / "fold_1" / "result.pkl").exists(), "fold 1 ended too soon"
    return any((training / "fold_1" / "checkpoints").glob("epoch_*.pt"))


def _metrics(project: Path) -> dict[str, float]:
    """The newest summary's metrics, less the folds' training times."""
    summary = json.loads((_versions(project / SUMMARY)[-1] / "summary.json").read_text())
    return {k: v for k, v in summary["metrics"].items() if "time_s" not in k}


def _folds(run_folder: Path) -> dict:
    """Each fold's history (less its durations) and test embeddings, and the weights of the
    last fold's model, as the training run's folder holds them."""
    trained = load_training_result(run_folder / "training")
    folds = [
        {
            "history": [{k: v for k, v in r.items() if k != "time_s"} for r in fold.history],
            "test_embeddings": torch.as_tensor(fold.test_embeddings),
        }
        for fold in trained.result.folds
    ]
    return {"folds": folds, "last_fold_weights": trained.model.state_dict}


def _backbone(project: Path) -> dict[str, torch.Tensor]:
    return torch.load(_versions(project / WEIGHTS)[-1] / "pretrained_backbone.pt")


@pytest.mark.slow
def test_a_killed_kedro_run_resumes_pretraining_and_folds_to_the_uninterrupted_result(
    tiny_project_run, tiny_project_run_copy, tiny_synthetic_session, tmp_path
):
    project = tiny_project_run_copy
    params = tiny_run_params(tiny_project_run, tiny_synthetic_session)
    (project / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(params))
    cached = set((project / PRETRAIN_CACHE).glob("*.pt"))
    runs_before = set((project / RUNS).iterdir())

    stored_before = set((project / STORE).iterdir())
    _finish(_kedro_run(project, tmp_path / "built.log", "pretrain"), tmp_path / "built.log")
    whole = _finish(_kedro_run(project, tmp_path / "whole.log"), tmp_path / "whole.log")
    assert "resuming the training run" not in whole and "resumed from" not in whole
    (run_folder,) = set((project / RUNS).iterdir()) - runs_before
    (pretrained,) = set((project / PRETRAIN_CACHE).glob("*.pt")) - cached
    stored = set((project / STORE).iterdir()) - stored_before
    assert sorted(p.suffix for p in stored) == [".json", ".pt"], "kept by its recipe"
    assert not list((project / PRETRAIN_CACHE).glob("*.checkpoints")), "removed once cached"
    expected_metrics, expected_backbone = _metrics(project), _backbone(project)
    expected_folds = _folds(run_folder)
    shutil.rmtree(run_folder)  # as if the uninterrupted run had never happened
    pretrained.unlink()
    for path in stored:
        path.unlink()

    killed_log = tmp_path / "killed_in_pretraining.log"
    run = _kedro_run(project, killed_log, "pretrain")
    _kill_when(run, lambda: bool(_pretraining_checkpoints(project)), killed_log)
    assert not pretrained.exists()
    assert _pretraining_checkpoints(project), "its checkpoints are kept for the rerun"
    rebuilt_log = tmp_path / "rebuilt.log"
    rebuilt = _finish(_kedro_run(project, rebuilt_log, "pretrain"), rebuilt_log)
    resumed = r"resumed from \S+epoch_000[12]\.pt \([12] of 3 epochs done\)"
    assert re.search(resumed, rebuilt), rebuilt[-3000:]
    assert pretrained.exists() and not _pretraining_checkpoints(project)
    assert all(path.exists() for path in stored), "kept by its recipe again"

    killed_log = tmp_path / "killed_in_fold.log"
    run = _kedro_run(project, killed_log)
    _kill_when(run, lambda: _second_fold_started(run_folder), killed_log)
    fold_0 = sorted((run_folder / "training" / "fold_0").glob("*.p*"))
    kept = {p: p.stat().st_mtime_ns for p in fold_0}
    runs, weights = sorted((project / RUNS).iterdir()), _versions(project / WEIGHTS)

    log = _finish(_kedro_run(project, tmp_path / "again.log"), tmp_path / "again.log")
    # the same key, although every `kedro run` saves the backbone under a new versioned path
    assert len(_versions(project / WEIGHTS)) == len(weights) + 1
    assert sorted((project / RUNS).iterdir()) == runs, "no new training run"
    assert f"resuming the training run in {RUNS / run_folder.name}" in log
    assert "pretrained backbone for this recipe read from" in log
    assert "fold 0: finished earlier, result reused" in log
    assert re.search(r"resumed from \S+epoch_000[12]\.pt \([12] of 3 epochs done\)", log)
    assert "fold 1: training" in log and "fold 0: training" not in log
    assert len(fold_0) == 2 and {p: p.stat().st_mtime_ns for p in fold_0} == kept, "read back"

    assert _metrics(project) == expected_metrics
    folds = _folds(run_folder)
    assert [f["history"] for f in folds["folds"]] == [f["history"] for f in expected_folds["folds"]]
    for fold, expected in zip(folds["folds"], expected_folds["folds"], strict=True):
        assert torch.equal(fold["test_embeddings"], expected["test_embeddings"])
    for name, value in expected_folds["last_fold_weights"].items():  # fold 1: the resumed one
        assert torch.equal(folds["last_fold_weights"][name], value), f"fold 1's {name}"
    backbone = _backbone(project)
    assert backbone.keys() == expected_backbone.keys()
    for name, value in expected_backbone.items():
        assert torch.equal(backbone[name], value), name


def test_the_final_fit_run_again_continues_from_its_checkpoint(tmp_path):
    """The final fit on every subject checkpoints into the training-run folder: the pipeline run
    again writes no checkpoint (it trains nothing), and its model is the first run's (toy
    data, a real runner)."""
    from toy_model_run import model_params, run_model_pipeline

    params = model_params("descriptive")
    runs = str(tmp_path / "runs")
    first = run_model_pipeline("smile", params, runs, mlflow=False).load("smile.model")
    (folder,) = (tmp_path / "runs").iterdir()
    final = folder / "final" / "checkpoints"

    def stamps():  # checkpoints, fold results and models (result.pkl is written every time)
        return {p: p.stat().st_mtime_ns for p in folder.rglob("*.p[tk]*") if p.parent != out}

    out = folder / "training"
    written = stamps()
    assert sorted(p.name for p in final.glob("epoch_*.pt"))[-1] == "epoch_0003.pt"

    again = run_model_pipeline("smile", params, runs, mlflow=False).load("smile.model")

    assert stamps() == written
    assert again.state_dict.keys() == first.state_dict.keys()
    for name, value in first.state_dict.items():
        assert torch.equal(again.state_dict[name], value), name

"""A model pipeline trained by several torchrun processes, and a killed pipeline run resumed.

- ``experiment.execution.nproc: 2`` trains each fold with two gloo processes launched by the node;
  Kedro runs once, so the MLflow model run, its metrics and the saved bundle exist once.
- A result trained elsewhere (``torchrun ... -m facevlm.train``, two processes, as on a
  cluster) is evaluated and logged by the pipeline as if it had trained it.
- A pipeline run SIGKILLed after the first epoch checkpoint of the second fold, started again
  with the same parameters, reuses the finished fold, continues the interrupted one from its
  epoch checkpoint and ends with the metrics, histories, embeddings, fold weights and final
  weights of a run that was never interrupted (identical on CPU). The node trains through
  ``train_from_bundle``, what ``python -m facevlm.train`` runs, so this one scenario checks the
  resumption of both (each run costs a process's imports and four epochs on two folds).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
from kedro.io import MemoryDataset
from toy_model_run import model_params, run_model_pipeline

from facevlm.runner.bundle_training import load_training_result

TOY_RUN = Path(__file__).with_name("toy_model_run.py")


class CountingDataset(MemoryDataset):
    """Counts how often the pipeline saved to it."""

    saves = 0

    def save(self, data):
        type(self).saves += 1
        super().save(data)


def world_sizes(out: Path) -> set[int]:
    """The numbers of processes that wrote the epoch checkpoints under a training folder."""
    return {
        json.loads(p.read_text())["described"]["world_size"]
        for p in out.glob("fold_*/checkpoints/identity.json")
    }


@pytest.mark.ddp
def test_two_training_processes_from_kedro_log_one_model_run(mlflow_tracking, monkeypatch):
    """AffectVLM here; SMILE-VLM trains on two processes in the cluster workflow below, and
    through the same launcher in tests/runner/test_torchrun.py."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    params = model_params("augmented")
    params["experiment"]["execution"]["nproc"] = 2
    params["experiment"]["train"]["epochs"] = 2

    catalog = run_model_pipeline("affectvlm", params, "training_runs")

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1, "one MLflow model run, logged by the Kedro process only"
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(runs[0].info.run_id, "test/accuracy_mean")) == 1
    result = catalog.load("affectvlm.cv_results")
    assert len(result.folds) == 1 and len(result.folds[0].history) == 2
    (folder,) = Path("training_runs").iterdir()
    assert (folder / "training" / "result.pkl").is_file(), "the workers wrote the result"
    assert world_sizes(folder / "training") == {2}, "both processes trained the one model"
    assert load_training_result(folder / "training").model.build()[0].fusion is not None
    assert catalog.load("affectvlm.model").info["fit"] == "all_subjects"


def _run_toy_pipeline(out: Path, runs_dir: Path, log: bool = False) -> subprocess.Popen:
    """The toy pipeline in a process of its own; ``log``: its log (stdout, where Kedro's console
    handler writes) and errors in one pipe, else only the errors."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    return subprocess.Popen(
        [sys.executable, str(TOY_RUN), str(out), str(runs_dir), "smile", "4"],
        env=env,
        stdout=subprocess.PIPE if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.PIPE,
        text=True,
    )


def _second_fold_started(runs_dir: Path) -> bool:
    """Fold 0 finished and the second fold has written an epoch checkpoint (each fold writes
    into a folder of its own)."""
    training = [p / "training" for p in runs_dir.glob("*")]
    if not training or not (training[0] / "fold_0" / "result.pkl").exists():
        return False
    assert not (training[0] / "fold_1" / "result.pkl").exists(), "fold 1 ended too soon"
    return any((training[0] / "fold_1" / "checkpoints").glob("epoch_*.pt"))


@pytest.mark.slow
def test_a_killed_pipeline_run_resumes_to_the_uninterrupted_result(tmp_path):
    whole = _run_toy_pipeline(tmp_path / "whole.pkl", tmp_path / "runs_whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read()

    runs = tmp_path / "runs_killed"
    killed = _run_toy_pipeline(tmp_path / "killed.pkl", runs)
    try:
        deadline = time.monotonic() + 600
        while not _second_fold_started(runs):
            assert killed.poll() is None, (
                f"the run ended before it was killed: {killed.stderr.read()}"
            )
            assert time.monotonic() < deadline
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.kill()
        killed.wait()
    assert not (tmp_path / "killed.pkl").exists()
    (training,) = (p / "training" for p in runs.iterdir())
    finished = [p for p in training.rglob("*.p[tk]*") if "tmp" not in p.name]  # .pt, .pkl
    written = {p: p.stat().st_mtime_ns for p in finished}

    again = _run_toy_pipeline(tmp_path / "killed.pkl", runs, log=True)
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output
    log = " ".join(output.split())  # the console handler may still wrap a long record
    assert "fold 0: finished earlier, result reused" in log
    assert "resumed from" in log and "epoch_000" in log

    for path, stamp in written.items():  # fold 0's result and fold 1's first epoch: reused
        assert path.stat().st_mtime_ns == stamp, f"{path.name} was written again"
    assert (training / "fold_1" / "result.pkl").exists()

    a = pickle.loads((tmp_path / "whole.pkl").read_bytes())
    b = pickle.loads((tmp_path / "killed.pkl").read_bytes())
    assert b["metrics"] == a["metrics"]
    assert len(b["folds"]) == len(a["folds"]) == 2
    for fold_a, fold_b in zip(a["folds"], b["folds"], strict=True):
        assert fold_b["history"] == fold_a["history"]
        assert (fold_b["test_embeddings"] == fold_a["test_embeddings"]).all()
    (whole_training,) = (p / "training" for p in (tmp_path / "runs_whole").iterdir())
    last_fold_a = load_training_result(whole_training).model.state_dict  # fold 1: the resumed one
    last_fold_b = load_training_result(training).model.state_dict
    for name, value in last_fold_a.items():
        assert torch.equal(value, last_fold_b[name]), f"fold 1's {name}"
    for name, value in a["state_dict"].items():  # the final fit on every subject
        assert torch.equal(value, b["state_dict"][name]), name


@pytest.mark.ddp
def test_a_result_trained_elsewhere_is_evaluated_and_logged_by_the_pipeline(
    mlflow_tracking, tmp_path, monkeypatch
):
    """The cluster workflow: a run with ``training_result`` set writes the bundle and says what
    to train; ``torchrun ... -m facevlm.train`` trains it (2 processes here, as on other
    machines: the entry point as a user runs it under torchrun); the same command then takes
    that result into the catalog and MLflow, and a result made from another bundle is
    refused. SMILE-VLM here; AffectVLM trains on two processes launched by the node above."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    params = model_params("descriptive")
    params["experiment"]["train"]["epochs"] = 2
    cluster_out = tmp_path / "cluster" / "smile"
    params["training_result"] = str(cluster_out)

    with pytest.raises(FileNotFoundError, match="no training result yet") as first:
        run_model_pipeline("smile", params, "training_runs")
    (bundle,) = Path("training_runs").glob("*/bundle")
    assert f"-m facevlm.train {bundle} --out {cluster_out} --fold 0" in str(first.value)

    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "facevlm.train", str(bundle), "--out", str(cluster_out), "--fold", "0",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert world_sizes(cluster_out) == {2}, "both processes trained the one model together"
    assert done.stdout.count("test/accuracy_mean") == 1, "rank 0 printed the metrics, once"
    elsewhere = load_training_result(cluster_out)
    assert [f.fold for f in elsewhere.result.folds] == [0]
    assert [r["epoch"] for r in elsewhere.result.folds[0].history] == [1.0, 2.0]
    assert elsewhere.model.build()[0].fusion is not None

    catalog = run_model_pipeline("smile", params, "training_runs")
    result = catalog.load("smile.cv_results")
    trained = elsewhere.result.final_metrics()
    logged = result.final_metrics()
    assert {k: logged[k] for k in trained if k.startswith("test/")} == {
        k: v for k, v in trained.items() if k.startswith("test/")
    }
    assert len(result.folds) == 1 and len(result.folds[0].history) == 2
    assert not (bundle.parent / "training" / "result.pkl").exists(), "nothing trained here"
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.data.tags["training_result"] == str(cluster_out)
    assert run.data.metrics["test/accuracy_mean"] == pytest.approx(trained["test/accuracy_mean"])
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "test/accuracy_mean")
    assert len(history) == 1, "logged once, by the Kedro process"
    assert catalog.load("smile.model").info["fit"] == "all_subjects"

    params["experiment"]["train"]["lr_head"] = 0.5  # another bundle: the old result is not its
    with pytest.raises(ValueError, match="trained from another training bundle"):
        run_model_pipeline("smile", params, "training_runs")

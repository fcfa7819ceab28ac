"""A model pipeline trained by several torchrun processes, and a killed pipeline run resumed.

- ``experiment.train.nproc: 2`` trains each fold with two gloo processes launched by the node;
  Kedro runs once, so the MLflow model run, its metrics and the saved bundle exist once.
- A pipeline run SIGKILLed after the first epoch checkpoint of the second fold, started again
  with the same parameters, reuses the finished fold, continues the interrupted one and ends with
  the metrics and final weights of a run that was never interrupted (identical on CPU).
"""

from __future__ import annotations

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

from facevlm.distributed.bundle_training import load_training_result

TOY_RUN = Path(__file__).with_name("toy_model_run.py")


class CountingDataset(MemoryDataset):
    """Counts how often the pipeline saved to it."""

    saves = 0

    def save(self, data):
        type(self).saves += 1
        super().save(data)


@pytest.mark.ddp
@pytest.mark.parametrize(
    ("model", "prompts"), [("affectvlm", "augmented"), ("smile", "descriptive")]
)
def test_two_training_processes_from_kedro_log_one_model_run(
    model, prompts, mlflow_tracking, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    params = model_params(prompts)
    params["experiment"]["train"]["nproc"] = 2
    params["experiment"]["train"]["epochs"] = 2

    catalog = run_model_pipeline(model, params, "training_runs")

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1, "one MLflow model run, logged by the Kedro process only"
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(runs[0].info.run_id, "test/accuracy_mean")) == 1
    result = catalog.load(f"{model}.cv_results")
    assert len(result.folds) == 1 and len(result.folds[0].history) == 2
    (folder,) = Path("training_runs").iterdir()
    assert (folder / "training" / "result.pkl").is_file(), "the workers wrote the result"
    assert catalog.load(f"{model}.model").info["fit"] == "all_subjects"


def _run_toy_pipeline(out: Path, runs_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, str(TOY_RUN), str(out), str(runs_dir), "smile", "4"],
        env=env,
        stdout=subprocess.DEVNULL,  # Kedro logs there
        stderr=subprocess.PIPE,
        text=True,
    )


def _second_fold_started(runs_dir: Path) -> bool:
    """Fold 0 finished and the second fold has written an epoch checkpoint."""
    training = [p / "training" for p in runs_dir.glob("*")]
    if not training or not (training[0] / "folds" / "fold_0.result.pkl").exists():
        return False
    assert not (training[0] / "folds" / "fold_1.result.pkl").exists(), "fold 1 ended too soon"
    return len(list((training[0] / "checkpoints").glob("run-*/epoch_*.pt"))) >= 2


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

    again = _run_toy_pipeline(tmp_path / "killed.pkl", runs)
    assert again.wait(timeout=600) == 0, again.stderr.read()

    for path, stamp in written.items():  # fold 0's result and fold 1's first epoch: reused
        assert path.stat().st_mtime_ns == stamp, f"{path.name} was written again"
    assert (training / "folds" / "fold_1.result.pkl").exists()

    a = pickle.loads((tmp_path / "whole.pkl").read_bytes())
    b = pickle.loads((tmp_path / "killed.pkl").read_bytes())
    assert b["metrics"] == a["metrics"]
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name


@pytest.mark.ddp
def test_a_result_trained_elsewhere_is_evaluated_and_logged_by_the_pipeline(
    mlflow_tracking, tmp_path, monkeypatch
):
    """The cluster workflow: a run with ``training_result`` set writes the bundle and says what
    to train; ``torchrun ... -m facevlm.train`` trains it (2 processes here, as on other
    machines); the same command then takes that result into the catalog and MLflow, and a
    result made from another bundle is refused."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    params = model_params("descriptive")
    params["experiment"]["train"]["epochs"] = 1
    cluster_out = tmp_path / "cluster" / "smile"
    params["training_result"] = str(cluster_out)

    with pytest.raises(FileNotFoundError, match="no training result yet") as first:
        run_model_pipeline("smile", params, "training_runs")
    (bundle,) = Path("training_runs").glob("*/bundle")
    assert f"-m facevlm.train {bundle} --out {cluster_out}" in str(first.value)

    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "facevlm.train", str(bundle), "--out", str(cluster_out),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    catalog = run_model_pipeline("smile", params, "training_runs")
    result = catalog.load("smile.cv_results")
    trained = load_training_result(cluster_out).result.final_metrics()
    logged = result.final_metrics()
    assert {k: logged[k] for k in trained if k.startswith("test/")} == {
        k: v for k, v in trained.items() if k.startswith("test/")
    }
    assert not (bundle.parent / "training" / "result.pkl").exists(), "nothing trained here"
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.data.tags["training_result"] == str(cluster_out)
    assert run.data.metrics["test/accuracy_mean"] == pytest.approx(trained["test/accuracy_mean"])

    params["experiment"]["train"]["lr_head"] = 0.5  # another bundle: the old result is not its
    with pytest.raises(ValueError, match="trained from another training bundle"):
        run_model_pipeline("smile", params, "training_runs")

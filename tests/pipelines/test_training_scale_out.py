"""A model pipeline trained by several torchrun processes.

- ``experiment.execution.nproc: 2`` trains each fold with two gloo processes launched by the node;
  Kedro runs once, so the MLflow model run, its metrics and the saved bundle exist once.
- A result trained elsewhere (``torchrun ... -m facevlm.train``, two processes, as on a
  cluster) is evaluated and logged by the pipeline as if it had trained it.

A killed and resumed pipeline run is tested through a real ``kedro run``
(``tests/pipelines/test_resume_after_kill.py``): its node trains through ``train_from_bundle``,
what ``python -m facevlm.train`` runs, so that one scenario checks the resumption of both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from kedro.io import MemoryDataset
from toy_model_run import model_params, run_model_pipeline

from facevlm.runner.bundle_training import load_training_result


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

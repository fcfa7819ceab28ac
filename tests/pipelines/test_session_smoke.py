"""A real Kedro session runs the default pipeline end to end and logs both models to MLflow."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Two epochs on one fold of each model: enough to exercise every node and every dataset.
QUICK_TRAINING = {"epochs": 2, "batch_size": 16, "progress": False, "checkpoint_dir": None}


def _quick_model(model: str) -> dict:
    return {"experiment": {"data": {"max_folds": 1}, "train": QUICK_TRAINING}, "protocol": {"k": 2}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project's configuration in a temporary folder, run from there."""
    shutil.copytree(
        PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local")
    )
    (tmp_path / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src").mkdir()  # the package itself is installed (pip install -e .)
    monkeypatch.chdir(tmp_path)
    # MLflow caches a SQLite store by its URI: conf/base's relative `sqlite:///mlruns.db` would
    # reach the file of an earlier test's project in this process. An absolute URI is this one's.
    server = yaml.safe_load((tmp_path / "conf" / "base" / "mlflow.yml").read_text())["server"]
    server["mlflow_tracking_uri"] = f"sqlite:///{tmp_path / 'mlruns.db'}"
    (tmp_path / "conf" / "local" / "mlflow.yml").write_text(yaml.safe_dump({"server": server}))
    while mlflow.active_run():  # an earlier test's run must not become this session's parent
        mlflow.end_run()
    yield tmp_path
    while mlflow.active_run():  # kedro-mlflow can leave its session run on the stack
        mlflow.end_run()


def test_default_pipeline_runs_in_a_session_and_logs_comparable_model_runs(project, tiny_synthetic):
    bootstrap_project(project)
    runtime_params = {
        "dataset": {"root": str(project / "data" / "01_raw" / "synthetic"), "n_workers": 1},
        "synthetic": tiny_synthetic,
        "render": {"size": 64, "n_workers": 1},
        "contact_sheet": {"n_subjects": 2, "size": 64},
        "pretraining": {
            "dataset": {"root": str(project / "data" / "01_raw" / "synthetic_pretraining")},
            # one face source and clean meshes, as the evaluation set of tiny_synthetic
            "synthetic": {
                "n_subjects": 2,
                "resolution": 1500,
                "texture_size": 128,
                **{k: tiny_synthetic[k] for k in ("face_sources", "scanner_variety")},
            },
            "training": {"holdout_subjects": 1, "train": QUICK_TRAINING},
        },
        "affectvlm": _quick_model("affectvlm"),
        "smile": _quick_model("smile"),
    }
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session.run(pipeline_name="__default__")

    assert (project / "mlruns.db").exists(), "MLflow should track into the SQLite store"
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["facevlm"], output_format="list")
    model_runs = {run.data.tags.get("model"): run for run in runs if "model" in run.data.tags}
    assert set(model_runs) == {"affectvlm", "smile"}
    for name, run in model_runs.items():
        metrics = run.data.metrics
        assert {"test/accuracy_mean", "test/accuracy_std", "test/macro_f1_mean"} <= set(metrics)
        assert run.data.tags["dataset"].startswith("synthetic")
        assert run.data.tags["protocol"] == "subject_kfold"
        assert run.data.tags.get("mlflow.parentRunId"), (
            f"{name} should be nested under the session run"
        )
    assert "test/knn/accuracy_mean" in model_runs["smile"].data.metrics
    history = mlflow.MlflowClient().get_metric_history(
        model_runs["affectvlm"].info.run_id, "train/loss"
    )
    assert [m.step for m in history] == [1, 2], "per-epoch loss should be a metric history"

    parent = [run for run in runs if "model" not in run.data.tags]
    assert parent and "affectvlm.experiment.train.epochs" in parent[0].data.params
    assert parent[0].data.tags.get("facevlm.pid"), "the session run names its process"
    assert parent[0].info.status == "FINISHED"

    (weights,) = (project / "data" / "06_models" / "pretrained_backbone.pt").glob("*/*.pt")
    for namespace in ("affectvlm", "smile"):
        (bundle_file,) = (project / "data" / "06_models" / namespace / "model.pt").glob("*/*.pt")
        bundle = torch.load(bundle_file, weights_only=False)
        assert bundle["model_config"]["backbone"]["pretrained"] == str(weights.resolve()), (
            f"{namespace} should start from the pretrain pipeline's weights"
        )
        assert list(
            (project / "data" / "08_reporting" / namespace / "confusion_matrix.png").iterdir()
        )

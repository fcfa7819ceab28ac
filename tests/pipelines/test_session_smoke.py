"""A real Kedro session runs the default pipeline end to end and logs both models to MLflow.

The session is the one that made the shared tiny run (``tiny_project_run`` in this folder's
conftest: ``__default__`` on the tiny synthetic set, two epochs on one fold of each model, in a
process of its own as ``kedro run`` starts it). Running the same pipeline again here would only
repeat the suite's costliest step; the ``compare`` session that ran after it adds runs of its own
to the store, which the model runs and their parent are told apart from below.
"""

from __future__ import annotations

import mlflow
import pytest
import torch

pytestmark = pytest.mark.slow


def test_default_pipeline_runs_in_a_session_and_logs_comparable_model_runs(tiny_project_run):
    project = tiny_project_run
    assert (project / "mlruns.db").exists(), "MLflow should track into the SQLite store"
    # a client of its own: setting MLflow's global tracking URI would leak into later tests
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("facevlm")
    runs = client.search_runs([experiment.experiment_id])
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
    history = client.get_metric_history(model_runs["affectvlm"].info.run_id, "train/loss")
    assert [m.step for m in history] == [1, 2], "per-epoch loss should be a metric history"

    (parent_id,) = {run.data.tags["mlflow.parentRunId"] for run in model_runs.values()}
    parent = client.get_run(parent_id)
    assert "model" not in parent.data.tags, "both models nested under the one session run"
    assert "affectvlm.experiment.train.epochs" in parent.data.params
    assert parent.data.tags.get("facevlm.pid"), "the session run names its process"
    assert parent.info.status == "FINISHED"

    # `pretrain` saved a version, then the default run the one its models started from
    built, read = sorted((project / "data" / "06_models" / "pretrained_backbone.pt").glob("*/*.pt"))
    assert torch.equal(*(torch.load(p)["visual.proj"] for p in (built, read))), (
        "the default run read the backbone `pretrain` made, by its recipe"
    )
    weights = read
    for namespace in ("affectvlm", "smile"):
        (bundle_file,) = (project / "data" / "06_models" / namespace / "model.pt").glob("*/*.pt")
        bundle = torch.load(bundle_file, weights_only=False)
        assert bundle["model_config"]["backbone"]["pretrained"] == str(weights.resolve()), (
            f"{namespace} should start from the backbone of its recipe"
        )
        assert list(
            (project / "data" / "08_reporting" / namespace / "confusion_matrix.png").iterdir()
        )

"""The held-out accuracy per face source: a model run on samples from two face sources logs it
to MLflow and writes it to the summary; the real model pipeline and a SQLite MLflow store."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from toy_model_run import index_and_renders, model_params, run_model_pipeline

from facevlm.datasets import RenderSet


def _two_source_data() -> tuple[pd.DataFrame, RenderSet]:
    """The toy scans, every other subject's face from the second source (as the synthetic set
    assigns them), and each sample carrying its subject's source as the render stage does."""
    index, renders = index_and_renders()
    subjects = sorted(index["subject"].unique())
    source = {s: ("procedural", "ict")[i % 2] for i, s in enumerate(subjects)}
    index = index.assign(face_source=index["subject"].map(source))
    samples = renders.samples.assign(face_source=renders.samples["subject"].map(source))
    return index, RenderSet(samples, renders.view_names, renders.settings, renders.images)


@pytest.mark.parametrize(
    ("model", "prompts"), [("affectvlm", "augmented"), ("smile", "descriptive")]
)
def test_a_model_run_logs_its_accuracy_per_face_source(model, prompts, mlflow_tracking, tmp_path):
    index, renders = _two_source_data()
    params = model_params(prompts)
    params["experiment"]["data"]["max_folds"] = None  # every subject held out once
    params["experiment"]["train"]["epochs"] = 1
    params["baseline"] = False
    catalog = run_model_pipeline(model, params, str(tmp_path / "runs"), data=(index, renders))

    # what the metric should be, from the held-out predictions themselves
    predictions = catalog.load(f"{model}.cv_results").predictions_frame()
    source_of = dict(zip(renders.samples["sample_id"], renders.samples["face_source"], strict=True))
    assert predictions["face_source"].tolist() == predictions["sample_id"].map(source_of).tolist()
    assert set(predictions["face_source"]) == {"procedural", "ict"}
    right = predictions["pred_primary"] == predictions["true"]
    expected = right.groupby(predictions["face_source"]).mean()

    summary = catalog.load(f"{model}.summary")
    assert summary["face_sources"] == predictions["face_source"].value_counts().to_dict()
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    for source in ("procedural", "ict"):
        logged = run.data.metrics[f"test/accuracy_{source}"]
        assert logged == pytest.approx(expected[source])
        assert summary["metrics"][f"test/accuracy_{source}"] == pytest.approx(logged)
    if model == "smile":  # the probe's figure also under the name that says what it is
        assert run.data.metrics["test/linear_probe/accuracy_ict"] == pytest.approx(expected["ict"])
        knn = predictions["pred_knn"] == predictions["true"]
        assert run.data.metrics["test/knn/accuracy_procedural"] == pytest.approx(
            knn[predictions["face_source"] == "procedural"].mean()
        )

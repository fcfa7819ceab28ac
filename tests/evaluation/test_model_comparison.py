"""Model runs logged to a real SQLite MLflow store are read back and lined up for comparison."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from facevlm.datasets import DatasetInput, MlflowModelRunDataset, ModelRunReport
from facevlm.evaluation.comparison import (
    KEYS,
    collect_model_runs,
    comparison_figure,
    line_up_runs,
)
from facevlm.evaluation.figures import format_mean_std

SCAN_INDEX = pd.DataFrame(
    {"subject": ["F0001", "F0002"], "expression": ["anger", "happiness"], "frames": [[1], [2, 3]]}
)


@pytest.fixture
def store(tmp_path, monkeypatch, new_mlflow_store):
    """A fresh SQLite tracking store with experiment ``facevlm``."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{new_mlflow_store(tmp_path / 'mlruns.db')}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("facevlm")
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def _report(model: str, accuracy: float, variant: str | None = None, **extra) -> ModelRunReport:
    tags = {"model": model, "dataset": "synthetic", "protocol": "subject_kfold", "task": "fer3d"}
    if variant:
        tags["variant"] = variant
    metrics = {
        "test/accuracy_mean": accuracy,
        "test/accuracy_std": 0.05,
        "test/macro_f1_mean": accuracy - 0.1,
        "test/macro_f1_std": 0.02,
        "train/fold_time_s_mean": 12.0,
        "train/fold_time_s_std": 1.0,
        **extra,
    }
    return ModelRunReport(
        run_name=variant or model,
        tags=tags,
        params={"train": {"lr_head": 1e-3}, "render": {"views": [[0, 0], [20, 0]]}},
        metrics=metrics,
        dataset_input=DatasetInput.from_scan_index("synthetic", SCAN_INDEX, 2, "data/01_raw"),
    )


def _log_three_models() -> None:
    dataset = MlflowModelRunDataset(log_model=False)
    dataset.save(_report("affectvlm", 0.6))
    time.sleep(0.01)  # distinct start times: the latest run of a group wins
    smile = {"test/linear_probe/accuracy_mean": 0.8, "test/linear_probe/accuracy_std": 0.1}
    smile |= {"test/knn/accuracy_mean": 0.7, "test/knn/accuracy_std": 0.1}
    dataset.save([_report("smile", 0.8, **smile), _report("smile", 0.5, "without_alignment")])
    time.sleep(0.01)
    dataset.save(_report("affectvlm", 0.9))  # the same group again, later


def test_model_run_records_dataset_input_task_and_flat_params(store):
    MlflowModelRunDataset(log_model=False).save(_report("affectvlm", 0.6))
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.data.tags["task"] == "fer3d"
    assert run.data.params["train.lr_head"] == "0.001"
    assert run.data.params["render.views"] == "[[0, 0], [20, 0]]"
    (logged,) = run.inputs.dataset_inputs
    assert logged.dataset.name == "synthetic"
    assert logged.dataset.digest == DatasetInput.from_scan_index("s", SCAN_INDEX, 2).digest
    assert '"num_rows": 2' in logged.dataset.profile
    assert {t.key: t.value for t in logged.tags}["mlflow.data.context"] == "cross_validation"


def test_scan_index_digest_changes_with_the_index():
    digest = DatasetInput.from_scan_index("s", SCAN_INDEX, 2).digest
    relabelled = SCAN_INDEX.assign(expression=["anger", "sadness"])
    assert DatasetInput.from_scan_index("s", SCAN_INDEX.copy(), 2).digest == digest
    assert DatasetInput.from_scan_index("s", relabelled, 2).digest != digest


def test_unknown_task_tag_is_refused():
    with pytest.raises(ValueError, match="task='3d'"):
        ModelRunReport("r", {"model": "smile", "task": "3d"}, {}, {})


def test_runs_line_up_by_model_dataset_protocol_task_and_variant(store):
    _log_three_models()
    with mlflow.start_run(run_name="session"):  # a session run: no model tag, left out
        mlflow.log_metric("test/accuracy_mean", 0.1)

    runs = collect_model_runs("facevlm", store)
    assert len(runs) == 4
    table = line_up_runs(runs)

    assert list(table[KEYS].itertuples(index=False, name=None)) == [
        ("fer3d", "synthetic", "subject_kfold", "affectvlm", "default"),
        ("fer3d", "synthetic", "subject_kfold", "smile", "default"),
        ("fer3d", "synthetic", "subject_kfold", "smile", "without_alignment"),
    ]
    affectvlm = table.iloc[0]
    assert affectvlm["accuracy_mean"] == pytest.approx(0.9), "the latest run of a group"
    assert affectvlm["n_runs"] == 2
    assert np.isnan(affectvlm["linear_probe_mean"])
    assert table.iloc[1]["linear_probe_mean"] == pytest.approx(0.8)
    assert table.iloc[1]["knn_mean"] == pytest.approx(0.7)
    assert "zero_shot_mean" not in table, "a measure no run has is dropped"
    assert set(table["n_samples"]) == {2}
    assert table["dataset_digest"].nunique() == 1
    assert table["fold_time_s_mean"].tolist() == [12.0, 12.0, 12.0]

    everything = line_up_runs(runs, latest_only=False)
    assert len(everything) == 4

    readable = format_mean_std(table)
    assert readable.loc[0, "accuracy"] == "0.900 ± 0.050"


def test_comparison_figure_has_a_bar_group_per_run_and_a_time_panel(store, tmp_path):
    _log_three_models()
    table = line_up_runs(collect_model_runs("facevlm", store))
    figure = comparison_figure(table)
    assert isinstance(figure, Figure)
    scores, seconds = figure.axes
    labels = [t.get_text() for t in scores.get_yticklabels()]
    assert labels[2] == "smile [without_alignment] · fer3d · synthetic · subject_kfold"
    (legend,) = figure.legends  # below both panels
    assert [t.get_text() for t in legend.get_texts()] == [
        "accuracy",
        "macro f1",
        "linear probe",
        "knn",
    ]
    assert len(seconds.patches) == 3
    figure.savefig(tmp_path / "comparison.png")
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_a_missing_experiment_or_an_empty_one_says_so(store):
    with pytest.raises(ValueError, match="no MLflow experiment 'nope'"):
        collect_model_runs("nope", store)
    with pytest.raises(ValueError, match="no model runs to compare"):
        line_up_runs(collect_model_runs("facevlm", store))


def test_fold_time_of_an_older_run_comes_from_its_epoch_time_history(store):
    report = _report("affectvlm", 0.6)
    report.metrics = {k: v for k, v in report.metrics.items() if not k.startswith("train/")}
    report.histories = {"train/time_s": [1.5, 2.5]}  # per-epoch mean over folds
    MlflowModelRunDataset(log_model=False).save(report)

    table = line_up_runs(collect_model_runs("facevlm", store))

    assert table.loc[0, "fold_time_s_mean"] == pytest.approx(4.0)
    assert np.isnan(table.loc[0, "fold_time_s_std"])
    assert len(comparison_figure(table).axes) == 2

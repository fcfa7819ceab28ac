"""Line up model runs from the MLflow tracking store: one row per model × data × protocol × variant.

Every model run (:class:`facevlm.datasets.MlflowModelRunDataset`) carries the tags ``model``,
``dataset``, ``protocol``, ``task`` and, for ablations, ``variant``; its dataset input (digest of
the scan index, number of samples); and final metrics named by what they measure. This module
reads those runs back and answers "how do AffectVLM, SMILE-VLM and their ablations compare?":

- :func:`collect_model_runs` — every finished model run of an experiment, one row each;
- :func:`line_up_runs` — the latest run of each (task, dataset, protocol, model, variant)
  with mean and std of accuracy, macro-F1, linear probe, k-NN, zero-shot and training time;
- :func:`comparison_figure` — the same as a bar chart with ± std error bars.

``facevlm.evaluation.figures.format_mean_std`` turns the table into ``mean ± std`` text.

Kedro-free: the ``compare`` pipeline wraps it, a notebook can call it on any tracking URI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Run, RunStatus
from mlflow.tracking import MlflowClient

#: The columns that say which runs are comparable, in the order the table sorts by.
KEYS = ["task", "dataset", "protocol", "model", "variant"]

#: Measure column prefix → MLflow metric name prefix (``_mean`` / ``_std`` appended).
MEASURES = {
    "accuracy": "test/accuracy",  # each model's primary evaluation (the shared name)
    "macro_f1": "test/macro_f1",
    "linear_probe": "test/linear_probe/accuracy",
    "knn": "test/knn/accuracy",
    "zero_shot": "test/zero_shot/accuracy",
    # the frozen starting point on the same folds: what training added is the difference
    "baseline_linear_probe": "baseline/linear_probe/accuracy",
    "baseline_zero_shot": "baseline/zero_shot/accuracy",
    "fold_time_s": "train/fold_time_s",
    # what the product answers with its face reader, pooled over the held-out folds (no std)
    "answered_coverage": "answers/coverage",
    "answered_accuracy": "answers/accuracy",
    "face_reader_accuracy": "face_reader/accuracy",
    "best_guess_accuracy": "answers/best_guess_accuracy",
}
#: Measures logged once for all folds pooled (the metric's own name, no ``_mean``/``_std``).
POOLED_MEASURES = (
    "answered_coverage",
    "answered_accuracy",
    "face_reader_accuracy",
    "best_guess_accuracy",
)

#: The variant of a run that is not an ablation (no ``variant`` tag).
DEFAULT_VARIANT = "default"

_RUN_COLUMNS = ["run_id", "run_name", "start_time", "dataset_digest", "n_samples"]


def _dataset_input(run: Run) -> tuple[str | None, float]:
    """Digest and sample count of the run's first dataset input (``None``, NaN when absent)."""
    inputs = run.inputs.dataset_inputs if run.inputs else []
    if not inputs:
        return None, np.nan
    dataset = inputs[0].dataset
    try:
        n_samples = float(json.loads(dataset.profile or "{}").get("num_rows", np.nan))
    except (ValueError, AttributeError):
        n_samples = np.nan
    return dataset.digest, n_samples


#: Per-epoch training time (mean over folds) that every model run logs as a metric history.
EPOCH_TIME_HISTORY = "train/time_s"


def _with_fold_time(client: MlflowClient, run: Run) -> dict[str, float]:
    """The run's metrics, with ``train/fold_time_s_mean`` from the per-epoch ``train/time_s``
    history (summed over epochs) when the run predates the fold-time metrics (std unknown)."""
    metrics = dict(run.data.metrics)
    if "train/fold_time_s_mean" not in metrics and EPOCH_TIME_HISTORY in metrics:
        history = client.get_metric_history(run.info.run_id, EPOCH_TIME_HISTORY)
        metrics["train/fold_time_s_mean"] = float(sum(m.value for m in history))
    return metrics


def _row(run: Run, metrics: dict[str, float]) -> dict[str, Any]:
    tags = run.data.tags
    digest, n_samples = _dataset_input(run)
    row: dict[str, Any] = {
        "task": tags.get("task", ""),
        "dataset": tags.get("dataset", ""),
        "protocol": tags.get("protocol", ""),
        "model": tags["model"],
        "variant": tags.get("variant", DEFAULT_VARIANT),
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
        "dataset_digest": digest,
        "n_samples": n_samples,
    }
    for column, metric in MEASURES.items():
        pooled = column in POOLED_MEASURES
        row[f"{column}_mean"] = metrics.get(metric if pooled else f"{metric}_mean", np.nan)
        row[f"{column}_std"] = np.nan if pooled else metrics.get(f"{metric}_std", np.nan)
    return row


def _search_all(client: MlflowClient, experiment_ids: list[str]) -> Iterable[Run]:
    token = None
    while True:
        page = client.search_runs(experiment_ids, max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def collect_model_runs(experiment: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """Every finished model run (a run with a ``model`` tag) of ``experiment``, one row each.

    Args:
        experiment: the experiment's name (``facevlm`` in ``conf/base/mlflow.yml``) or its id.
        tracking_uri: the store to read; ``None``: MLflow's current one.

    Raises:
        ValueError: the experiment does not exist in the store.
    """
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None and experiment.isdigit():
        found = client.get_experiment(experiment)
    if found is None:
        raise ValueError(
            f"no MLflow experiment {experiment!r} in {client.tracking_uri}: "
            "train a model first (kedro run)"
        )
    rows = [
        _row(run, _with_fold_time(client, run))
        for run in _search_all(client, [found.experiment_id])
        if "model" in run.data.tags and run.info.status == RunStatus.to_string(RunStatus.FINISHED)
    ]
    columns = KEYS + _RUN_COLUMNS + [f"{c}_{s}" for c in MEASURES for s in ("mean", "std")]
    return pd.DataFrame(rows, columns=columns)


def line_up_runs(runs: pd.DataFrame, latest_only: bool = True) -> pd.DataFrame:
    """The runs lined up by :data:`KEYS`: the latest of each group (or all), sorted.

    Adds ``n_runs`` (how many runs the group has: a group re-run after a change shows > 1) and
    drops the measures no run has (e.g. ``zero_shot`` when only AffectVLM was trained). A std
    may be NaN where a run has a mean only (fold time of a run logged before that metric).
    Values are rounded to 4 decimals for reading.
    """
    if runs.empty:
        raise ValueError("no model runs to compare: train a model first (kedro run)")
    runs = runs.sort_values("start_time")
    counts = runs.groupby(KEYS, dropna=False)["run_id"].transform("count")
    table = runs.assign(n_runs=counts)
    if latest_only:
        table = table.drop_duplicates(KEYS, keep="last")
    absent = [c for c in MEASURES if table[f"{c}_mean"].isna().all()]
    table = table.drop(columns=[f"{c}_{s}" for c in absent for s in ("mean", "std")])
    measure_columns = [c for c in table.columns if c.endswith(("_mean", "_std"))]
    table[measure_columns] = table[measure_columns].round(4)
    table["start_time"] = table["start_time"].dt.strftime("%Y-%m-%d %H:%M:%S")
    ordered = KEYS + [c for c in table.columns if c.endswith(("_mean", "_std"))]
    ordered += ["n_samples", "dataset_digest", "n_runs", "run_name", "run_id", "start_time"]
    return table[ordered].sort_values(KEYS).reset_index(drop=True)


def _run_label(row: pd.Series) -> str:
    variant = "" if row["variant"] == DEFAULT_VARIANT else f" [{row['variant']}]"
    task = row["task"] if isinstance(row["task"], str) and row["task"] else "no task"
    return f"{row['model']}{variant} · {task} · {row['dataset']} · {row['protocol']}"


def comparison_figure(table: pd.DataFrame, title: str = "Model runs compared") -> Figure:
    """Grouped horizontal bars, one group per run: every accuracy-type measure with ± std, and
    the training time per fold in a panel of its own (seconds, another scale)."""
    scores = [
        c
        for c in MEASURES
        if c != "fold_time_s" and c not in POOLED_MEASURES and f"{c}_mean" in table
    ]
    has_time = "fold_time_s_mean" in table
    labels = [_run_label(row) for _, row in table.iterrows()]
    height = 1.2 + 0.35 * len(table) * max(len(scores), 1)
    figure = Figure(figsize=(11 if has_time else 8, height), layout="constrained")
    widths = [3, 1] if has_time else [1]
    axes = figure.subplots(1, len(widths), width_ratios=widths, sharey=True, squeeze=False)[0]
    positions = np.arange(len(table))
    bar = 0.8 / max(len(scores), 1)
    colours = matplotlib.colormaps["tab10"]
    for i, column in enumerate(scores):
        offsets = positions - 0.4 + bar * (i + 0.5)
        axes[0].barh(
            offsets,
            table[f"{column}_mean"].fillna(0.0),
            height=bar,
            xerr=table[f"{column}_std"].fillna(0.0),
            color=colours(i),
            label=column.replace("_", " "),
            capsize=2,
        )
    axes[0].set_yticks(positions, labels)
    axes[0].invert_yaxis()
    axes[0].set_xlim(0, 1)
    axes[0].set_xlabel("held-out score (mean ± std over folds)")
    figure.legend(
        *axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize="small"
    )
    axes[0].grid(axis="x", alpha=0.3)
    if has_time:
        axes[1].barh(
            positions,
            table["fold_time_s_mean"].fillna(0.0),
            xerr=table["fold_time_s_std"].fillna(0.0),
            color="grey",
            capsize=2,
        )
        axes[1].set_xlabel("training time per fold (s)")
        axes[1].grid(axis="x", alpha=0.3)
    figure.suptitle(title)
    return figure

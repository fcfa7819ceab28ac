"""The ``compare`` node: reads the tracking store kedro-mlflow points at, writes the comparison.

kedro-mlflow sets the tracking URI from ``conf/<env>/mlflow.yml`` when the session starts and
opens the session's MLflow run; the node reads the model runs of that run's experiment (or of
``compare.experiment`` when given). The table and the plot are versioned catalog datasets, and
the same two go into an MLflow run of their own, "model comparison" (logged by
:class:`~facevlm.datasets.MlflowModelRunDataset`, like a model's report, but with no ``model``
tag, so a later comparison does not count it as a model run).
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import pandas as pd
from matplotlib.figure import Figure

from facevlm.datasets.mlflow_model_run import ModelRunReport
from facevlm.evaluation.comparison import KEYS, collect_model_runs, comparison_figure, line_up_runs
from facevlm.evaluation.figures import format_mean_std

logger = logging.getLogger(__name__)


def _experiment(configured: str | None) -> str:
    """The experiment to read: the configured one, else that of the session's MLflow run."""
    if configured:
        return str(configured)
    run = mlflow.active_run()
    if run is None:
        raise ValueError(
            "compare.experiment is not set and no MLflow run is active (is kedro-mlflow's "
            "tracking disabled for this pipeline?): set compare.experiment to an experiment name"
        )
    return run.info.experiment_id


def compare_model_runs(compare: dict[str, Any]) -> tuple[pd.DataFrame, Figure, ModelRunReport]:
    """The comparison table, its plot, and both as an MLflow run, from every model run."""
    experiment = _experiment(compare.get("experiment"))
    runs = collect_model_runs(experiment)
    table = line_up_runs(runs, latest_only=compare.get("latest_only", True))
    figure = comparison_figure(table)
    logger.info(
        "compared %d model runs (%d groups):\n%s",
        len(runs),
        len(table),
        format_mean_std(
            table[KEYS + [c for c in table if c.endswith(("_mean", "_std"))]]
        ).to_string(index=False),
    )
    report = ModelRunReport(
        run_name="model comparison",
        tags={"kind": "comparison", "models": ",".join(sorted(set(table["model"])))},
        params={"compare": {**compare, "experiment": experiment}},
        metrics={"compare/n_model_runs": len(runs), "compare/n_groups": len(table)},
        figures={"model_comparison": figure},
        tables={"model_comparison": table},
    )
    return table, figure, report

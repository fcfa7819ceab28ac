"""The ``compare`` node: reads the tracking store kedro-mlflow points at, writes the comparison.

kedro-mlflow sets the tracking URI from ``conf/<env>/mlflow.yml`` when the session starts and
opens this run's own MLflow run; the node reads the model runs of that run's experiment (or of
``compare.experiment`` when given). The table and the plot are catalog datasets wrapped in
``MlflowArtifactDataset``, so saving them versions them on disk *and* logs them into the
``compare`` run.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import pandas as pd
from matplotlib.figure import Figure

from facevlm.evaluation.comparison import collect_model_runs, comparison_figure, line_up_runs
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


def compare_model_runs(compare: dict[str, Any]) -> tuple[pd.DataFrame, Figure]:
    """The comparison table and its plot, from every model run of the experiment."""
    runs = collect_model_runs(_experiment(compare.get("experiment")))
    table = line_up_runs(runs, latest_only=compare.get("latest_only", True))
    logger.info(
        "compared %d model runs (%d groups):\n%s",
        len(runs),
        len(table),
        format_mean_std(table).to_string(index=False),
    )
    return table, comparison_figure(table)

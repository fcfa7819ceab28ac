"""One MLflow run per trained model (or ablation variant), nested under the Kedro run.

Why not only kedro-mlflow's metric datasets: they log into *the* run of the Kedro session, and
the default pipeline trains two models in one session. Both models report the same metric names
(``test/accuracy_mean``) so that runs compare side by side; logged into one run they would
overwrite each other. So each model's evaluation goes into a run of its own — a child of the
session's run, which still carries every parameter through kedro-mlflow's hook — holding:

- the model's parameters (flattened), and tags ``model``, ``dataset``, ``protocol``;
- per-epoch curves as metric history (``train/loss``, ``eval/accuracy``, ... with step = epoch,
  mean over folds) and the final metrics (``test/accuracy_mean``, ...);
- figures (confusion matrix, curves, embedding plot) and tables as artifacts;
- the trained model with the ``mlflow.pytorch`` flavour.

Saving a list of reports makes one run per report (the ablation command).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mlflow
import mlflow.pytorch as mlflow_pytorch
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Metric, Param

#: MLflow's limit on a parameter value's length.
_MAX_PARAM_LENGTH = 6000


@dataclass
class ModelRunReport:
    """What one model run logs; built by the report nodes, saved by :class:`MlflowModelRunDataset`."""

    run_name: str
    tags: dict[str, str]
    params: dict[str, Any]
    metrics: dict[str, float]  # final metrics
    histories: dict[str, list[float]] = field(default_factory=dict)  # name -> value per epoch
    figures: dict[str, Any] = field(default_factory=dict)  # artifact name -> matplotlib Figure
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # artifact name -> table
    model: Any = None  # torch.nn.Module logged with mlflow.pytorch, or None


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` → ``{"a.b": "1"}``, values as strings cut to MLflow's limit."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:_MAX_PARAM_LENGTH]
    return flat


def _requirements() -> list[str]:
    """The packages that unpickle the logged model, pinned to the versions that saved it (given
    explicitly: MLflow's inference would import-scan the whole environment)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("torch", "open_clip_torch", "facevlm")]


class MlflowModelRunDataset(AbstractDataset[ModelRunReport | list[ModelRunReport], None]):
    """Write-only: ``save(report)`` logs the report as its own (nested) MLflow run.

    Args:
        log_model: log ``report.model`` with the ``mlflow.pytorch`` flavour (can be large).
    """

    def __init__(self, *, log_model: bool = True, metadata: dict[str, Any] | None = None):
        self._log_model = log_model
        self.metadata = metadata
        self.last_run_ids: list[str] = []

    def _describe(self) -> dict[str, Any]:
        return {"log_model": self._log_model}

    def load(self) -> None:
        raise DatasetError("MlflowModelRunDataset is write-only: browse the runs in the MLflow UI")

    def save(self, data: ModelRunReport | list[ModelRunReport]) -> None:
        reports = data if isinstance(data, list) else [data]
        self.last_run_ids = [self._log(report) for report in reports]

    def _log(self, report: ModelRunReport) -> str:
        nested = mlflow.active_run() is not None
        with mlflow.start_run(run_name=report.run_name, nested=nested, tags=report.tags) as run:
            client = mlflow.MlflowClient()
            run_id = run.info.run_id
            params = [Param(k, v) for k, v in flatten(report.params).items()]
            metrics = [
                Metric(name, float(value), 0, step)
                for name, values in report.histories.items()
                for step, value in enumerate(values, start=1)
                if value == value  # skip NaN
            ]
            metrics += [Metric(k, float(v), 0, 0) for k, v in report.metrics.items()]
            for start in range(0, max(len(params), len(metrics)), 100):  # MLflow batch limits
                client.log_batch(
                    run_id, metrics=metrics[start : start + 100], params=params[start : start + 100]
                )
            for name, figure in report.figures.items():
                mlflow.log_figure(figure, f"{name}.png")
            for name, table in report.tables.items():
                buffer = io.StringIO()
                table.to_csv(buffer, index=False)
                mlflow.log_text(buffer.getvalue(), f"{name}.csv")
            if self._log_model and report.model is not None:
                # pickle: the traced "pt2" format needs an input example and a traceable forward
                mlflow_pytorch.log_model(
                    report.model,
                    name="model",
                    serialization_format="pickle",
                    pip_requirements=_requirements(),
                )
        return run_id

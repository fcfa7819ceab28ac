"""One MLflow run per trained model (or ablation variant), nested under the Kedro run.

Why not only kedro-mlflow's metric datasets: they log into *the* run of the Kedro session, and
the default pipeline trains two models in one session. Both models report the same metric names
(``test/accuracy_mean``) so that runs compare side by side; logged into one run they would
overwrite each other. So each model's evaluation goes into a run of its own — a child of the
session's run, which still carries every parameter through kedro-mlflow's hook — holding:

- the model's parameters, flat and readable (``train.lr_head``, ``render.views``), and tags
  ``model``, ``dataset``, ``protocol``, ``task`` (``fer3d`` | ``fer4d`` | ``mer``), ``variant``;
- the dataset it was evaluated on as an MLflow *input* (name, digest of the scan index, number of
  samples), shown in the run's "Dataset" column, so runs on different data never pass for
  comparable;
- per-epoch curves as metric history (``train/loss``, ``eval/accuracy``, ... with step = epoch,
  mean over folds) and the final metrics (``test/accuracy_mean``, ...);
- figures (confusion matrix, curves, embedding plot) and tables as artifacts;
- the trained model with the ``mlflow.pytorch`` flavour.

Saving a list of reports makes one run per report (the ablation command). The ``compare``
pipeline logs its comparison table and plot the same way, as a run without a ``model`` tag.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pytorch as mlflow_pytorch
import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Dataset, InputTag, Metric, Param
from mlflow.entities import DatasetInput as MlflowDatasetInput

from facevlm.datasets.figure_files import figure_file_bytes
from facevlm.digests import text_digest
from facevlm.scans.tasks import TASKS

#: MLflow's limit on a parameter value's length.
_MAX_PARAM_LENGTH = 6000

#: What the logged dataset was used for (the input's ``mlflow.data.context`` tag).
DATASET_CONTEXT = "cross_validation"


def frame_digest(frame: pd.DataFrame) -> str:
    """A short content digest of a table (16 hex digits of SHA-256 over its CSV text).

    Two scan indexes with the same rows in the same order get the same digest; a re-ingest that
    adds, drops or relabels one scan gets another. CSV text, not ``hash_pandas_object``: index
    columns may hold lists, which pandas cannot hash.
    """
    return text_digest(frame.to_csv(index=False), "sha256", hex_digits=16)


@dataclass(frozen=True)
class DatasetInput:
    """The data a model run was evaluated on, as MLflow records it (a run's "Dataset").

    Attributes:
        name: the dataset (``synthetic``, ``bu3dfe``, or ``bu3dfe:synthetic-bu3dfe`` for a
            subset), as in the run's ``dataset`` tag.
        digest: digest of the scan index the run read (:func:`frame_digest`).
        n_samples: samples the protocol used (the fold table's rows).
        source: where the data lives (the dataset root), shown by the MLflow UI.
    """

    name: str
    digest: str
    n_samples: int
    source: str = ""

    @classmethod
    def from_scan_index(
        cls, name: str, scan_index: pd.DataFrame, n_samples: int, source: str = ""
    ) -> DatasetInput:
        return cls(name, frame_digest(scan_index), int(n_samples), source)

    def to_mlflow(self) -> MlflowDatasetInput:
        dataset = Dataset(
            name=self.name,
            digest=self.digest,
            source_type="local",
            source=json.dumps({"uri": self.source}),
            profile=json.dumps({"num_rows": self.n_samples}),
        )
        return MlflowDatasetInput(dataset, [InputTag("mlflow.data.context", DATASET_CONTEXT)])


@dataclass
class ModelRunReport:
    """What one model run logs; built by the report nodes, saved by :class:`MlflowModelRunDataset`."""

    run_name: str
    tags: dict[str, str]  # model, dataset, protocol, task, variant
    params: dict[str, Any]  # nested sections, logged flat: train.lr_head, render.views
    metrics: dict[str, float]  # final metrics
    histories: dict[str, list[float]] = field(default_factory=dict)  # name -> value per epoch
    figures: dict[str, Any] = field(default_factory=dict)  # artifact name -> matplotlib Figure
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # artifact name -> table
    model: Any = None  # torch.nn.Module logged with mlflow.pytorch, or None
    dataset_input: DatasetInput | None = None  # logged as the run's MLflow dataset input

    def __post_init__(self) -> None:
        task = self.tags.get("task")
        if task is not None and task not in TASKS:
            raise ValueError(
                f"run {self.run_name!r}: tag task={task!r} is not one of {', '.join(TASKS)}"
            )


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
            if report.dataset_input is not None:
                client.log_inputs(run_id, datasets=[report.dataset_input.to_mlflow()])
            if report.figures:
                with tempfile.TemporaryDirectory() as folder:
                    for name, figure in report.figures.items():  # drawn once: figure_files
                        path = Path(folder) / f"{name}.png"
                        path.write_bytes(figure_file_bytes(figure))
                        mlflow.log_artifact(str(path))
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

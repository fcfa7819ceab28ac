"""A report figure is drawn once: its catalog file and its MLflow artifact are the same PNG."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import mlflow
from kedro.io import Version
from PIL import Image

from facevlm.datasets import FigureDataset, MlflowModelRunDataset, ModelRunReport
from facevlm.datasets.figure_files import figure_file_bytes
from facevlm.evaluation.figures import confusion_matrix_figure

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


def counted_figure():
    """A report figure, and the list its draws are appended to (one entry per draw)."""
    figure = confusion_matrix_figure([[3, 1, 0, 0, 0, 0]] * 6, CLASSES)
    draws: list[object] = []
    figure.canvas.mpl_connect("draw_event", draws.append)
    return figure, draws


def draws_of_one_save() -> int:
    """How many draws one plain ``savefig`` of a report figure makes (a constrained layout is
    drawn to be measured, then drawn)."""
    figure, draws = counted_figure()
    figure.savefig(io.BytesIO(), format="png")
    assert draws, "draw events are counted"
    return len(draws)


def test_a_figure_saved_to_the_catalog_and_logged_to_mlflow_is_drawn_once(
    mlflow_tracking, tmp_path: Path
):
    figure, draws = counted_figure()
    report = ModelRunReport("affectvlm", {}, {}, {}, figures={"confusion_matrix": figure})
    logger = MlflowModelRunDataset(log_model=False)
    logger.save(report)
    (run_id,) = logger.last_run_ids
    dataset = FigureDataset(
        filepath=str(tmp_path / "confusion_matrix.png"), version=Version(None, None)
    )
    dataset.save(figure)

    assert len(draws) == draws_of_one_save()
    logged = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="confusion_matrix.png")
    )
    (written,) = (tmp_path / "confusion_matrix.png").rglob("*.png")
    assert written.read_bytes() == logged.read_bytes()
    width, height = Image.open(written).size  # the whole figure, at its own resolution
    assert abs(width - figure.get_figwidth() * figure.dpi) <= 1
    assert abs(height - figure.get_figheight() * figure.dpi) <= 1
    preview = base64.b64decode(dataset.preview())  # what Kedro-Viz shows
    assert preview == written.read_bytes()


def test_other_save_arguments_draw_the_figure_again():
    figure, draws = counted_figure()
    png = figure_file_bytes(figure)
    assert figure_file_bytes(figure) == png and len(draws) == draws_of_one_save()
    small = figure_file_bytes(figure, dpi=40)
    assert len(draws) == 2 * draws_of_one_save()
    assert Image.open(io.BytesIO(small)).width < Image.open(io.BytesIO(png)).width

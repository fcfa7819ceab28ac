"""After a real (tiny) ``kedro run`` and ``kedro run --pipeline=compare``, the three ways of
looking at a run work: Kedro-Viz builds with layers and previews, MLflow holds a comparison of
both models, and ``notebooks/explore.ipynb`` executes against the run's catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import mlflow
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from facevlm.evaluation.comparison import KEYS
from preloaded_python import run_preloaded

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The catalog's layers (``primary``: the expression bank, in ``data/03_primary``).
LAYERS = {
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
}

#: Dataset → the preview Kedro-Viz must show for it.
EXPECTED_PREVIEWS = {
    "renders": "ImagePreview",
    "contact_sheet": "ImagePreview",
    "affectvlm.confusion_matrix": "ImagePreview",
    "smile.training_curves": "ImagePreview",
    "scan_index": "TablePreview",
    "quarantine_report": "TablePreview",
    "affectvlm.prompt_bank": "TablePreview",
    "smile.fold_metrics": "TablePreview",
    "model_comparison": "TablePreview",
    "model_comparison_plot": "ImagePreview",
    "affectvlm.summary": "JSONPreview",
    "affectvlm.model": "JSONPreview",
}


def _kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``kedro ARGS`` in ``project``, forked from a Python that has imported the libraries
    (tests/preloaded_python.py)."""
    # a wide console: one log record per line
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "COLUMNS": "400"}
    return run_preloaded("-m", "kedro", *args, cwd=project, env=env, timeout=300)


def _data_nodes(api: Path) -> dict[str, dict]:
    """Every dataset of every registered pipeline, as Kedro-Viz lists it."""
    nodes = {}
    for pipeline_file in (api / "pipelines").iterdir():
        for node in json.loads(pipeline_file.read_text())["nodes"]:
            if node["type"] == "data":
                nodes[node["name"]] = node
    return nodes


def test_kedro_viz_build_shows_layers_and_previews(tiny_project_run):
    build = _kedro(tiny_project_run, "viz", "build", "--include-previews")
    output = build.stdout + build.stderr
    assert build.returncode == 0, output
    assert "ERROR" not in output and "Success!" in output, output
    assert "circular dependency" not in output, (
        "layers must form a chain for Kedro-Viz to band them"
    )
    # only datasets this tiny run did not make (smile_mer, ablations) have nothing to preview
    failed = [line for line in output.splitlines() if "could not be previewed" in line]
    assert all("VersionNotFoundError" in line for line in failed), "\n".join(failed)

    api = tiny_project_run / "build" / "api"
    data_nodes = _data_nodes(api)
    without_layer = sorted(name for name, node in data_nodes.items() if not node.get("layer"))
    assert without_layer == [], f"datasets without a Kedro-Viz layer: {without_layer}"
    assert set(json.loads((api / "main").read_text())["layers"]) == LAYERS

    previews = {}
    for name, expected in EXPECTED_PREVIEWS.items():
        assert name in data_nodes, f"{name} is in no pipeline"
        node = json.loads((api / "nodes" / data_nodes[name]["id"]).read_text())
        previews[name] = node.get("preview_type")
        assert node.get("preview"), f"{name}: empty preview"
        if expected == "TablePreview":  # the tiny run quarantines nothing: header only
            assert node["preview"]["columns"]
            assert node["preview"]["data"] or name == "quarantine_report", name
        if expected == "JSONPreview":  # the Kedro-Viz frontend JSON.parse()s it
            assert isinstance(json.loads(node["preview"]), dict), name
    assert previews == EXPECTED_PREVIEWS
    renders = json.loads((api / "nodes" / data_nodes["renders"]["id"]).read_text())
    assert renders["preview"].startswith("iVBOR"), "a base64 PNG"


def test_compare_writes_a_versioned_table_and_plot_and_an_mlflow_run(tiny_project_run):
    (table_file,) = (tiny_project_run / "data/08_reporting/model_comparison.csv").glob("*/*.csv")
    assert list((tiny_project_run / "data/08_reporting/model_comparison.png").glob("*/*.png"))
    table = pd.read_csv(table_file)
    assert set(table["model"]) == {"affectvlm", "smile"}
    assert set(KEYS) <= set(table.columns)
    assert table["accuracy_mean"].between(0, 1).all()
    smile = table.set_index("model").loc["smile"]
    assert smile["linear_probe_mean"] == pytest.approx(smile["accuracy_mean"])
    assert smile["knn_mean"] >= 0 and smile["zero_shot_mean"] >= 0
    assert (table["fold_time_s_mean"] > 0).all(), "training time per fold"

    # a client of its own: setting MLflow's global tracking URI would leak into later tests
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tiny_project_run / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("facevlm")
    runs = client.search_runs([experiment.experiment_id])
    (comparison,) = [r for r in runs if r.info.run_name == "model comparison"]
    assert "model" not in comparison.data.tags
    artifacts = {a.path for a in client.list_artifacts(comparison.info.run_id)}
    assert {"model_comparison.csv", "model_comparison.png"} <= artifacts
    parent = comparison.data.tags["mlflow.parentRunId"]
    assert client.get_run(parent).info.run_name == "compare", "nested in the compare session run"


def test_explore_notebook_executes_against_the_run(tiny_project_run):
    notebooks = tiny_project_run / "notebooks"
    notebooks.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "notebooks" / "explore.ipynb", notebooks / "explore.ipynb")
    notebook = nbformat.read(notebooks / "explore.ipynb", as_version=4)

    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": notebooks}}
    ).execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert errors == []
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5, "renders, curves, confusion matrix, embeddings, comparison plot"
    tables = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    assert "class_name" in tables, "the prompt bank"
    assert "affectvlm" in tables and "smile" in tables and "±" in tables, "the comparison"

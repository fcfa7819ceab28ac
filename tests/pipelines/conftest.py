"""Tiny parameters for running the real pipelines in a temporary folder within seconds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Smallest synthetic set that still exercises every layout (2 micro subjects for LOSO).
TINY_SYNTHETIC = {
    "seed": 0,
    "n_subjects": 3,
    "n_subjects_4d": 1,
    "n_frames": 6,
    "n_bosphorus": 1,
    "n_bp4d_subjects": 1,
    "n_micro_subjects": 2,
    "clips_per_subject": 2,
    "clip_frames": 6,
    "resolution": 1500,
    "resolution_4d": 800,
    "texture_size": 128,
    "texture_size_4d": 64,
}


@pytest.fixture
def tiny_synthetic() -> dict:
    return dict(TINY_SYNTHETIC)


@pytest.fixture
def tiny_params(tmp_path):
    """Parameters of the data pipelines for a tiny synthetic set under ``tmp_path``."""
    return {
        "dataset": {
            "name": "synthetic",
            "root": str(tmp_path / "raw" / "synthetic"),
            "fail_fast": False,
            "allow_missing_texture": False,
            "n_workers": 1,
            "options": {},
        },
        "synthetic": dict(TINY_SYNTHETIC),
        "contact_sheet": {"n_subjects": 2, "size": 64},
        "render": {
            "size": 64,
            "views": [[0, 0], [20, 0], [-20, 0]],
            "modality": "texture",
            "frames": "uniform:2",
            "n_workers": 1,
            "datasets": None,
        },
        "protocol": {
            "name": "subject_kfold",
            "k": 2,
            "seed": 0,
            "subset": "all",
            "datasets": ["synthetic-bu3dfe"],
        },
    }


def copy_project_config(destination: Path) -> Path:
    """A runnable project in ``destination``: the configuration and ``pyproject.toml`` (the
    package itself is installed), with an empty ``conf/local``."""
    shutil.copytree(
        PROJECT_ROOT / "conf", destination / "conf", ignore=shutil.ignore_patterns("local")
    )
    (destination / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", destination / "pyproject.toml")
    (destination / "src").mkdir()
    return destination


#: Runs one pipeline of the project at argv[1] in a Kedro session; runtime params on stdin (JSON).
_RUN_SESSION = """
import json, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
project, pipeline_name = Path(sys.argv[1]), sys.argv[2]
bootstrap_project(project)
with KedroSession.create(project_path=project, runtime_params=json.load(sys.stdin)) as session:
    session.run(pipeline_name=pipeline_name)
"""


@pytest.fixture(scope="session")
def tiny_project_run(tmp_path_factory) -> Path:
    """A copy of the project after real Kedro sessions ran ``__default__`` (both models, one
    fold, two epochs, tiny synthetic set) and then ``compare``: the artifacts that Kedro-Viz,
    the notebook and the comparison tests browse. Made once per test session."""
    project = copy_project_config(tmp_path_factory.mktemp("tiny_project"))
    quick = {"epochs": 2, "batch_size": 16, "progress": False, "checkpoint_dir": None}
    model = {"experiment": {"data": {"max_folds": 1}, "train": quick}, "protocol": {"k": 2}}
    runtime_params = {
        "dataset": {"root": str(project / "data" / "01_raw" / "synthetic"), "n_workers": 1},
        "synthetic": dict(TINY_SYNTHETIC),
        "render": {"size": 64, "n_workers": 1},
        "contact_sheet": {"n_subjects": 2, "size": 64},
        "pretraining": {
            "corpus": {
                "root": str(project / "data" / "01_raw" / "synthetic_pretraining"),
                "n_subjects": 2,
                "resolution": 1500,
                "texture_size": 128,
            },
            "training": {"holdout_subjects": 1, "train": quick},
        },
        "affectvlm": model,
        "smile": model,
    }
    # Each pipeline in a process of its own, like two `kedro run`s: kedro-mlflow keeps global
    # state (tracking URI, active run) that would leak into later tests of this process.
    for pipeline_name in ("__default__", "compare"):
        subprocess.run(
            [sys.executable, "-c", _RUN_SESSION, str(project), pipeline_name],
            input=json.dumps(runtime_params),
            text=True,
            cwd=project,
            check=True,
            timeout=900,
        )
    return project

"""Fixtures of the pipeline tests: a runnable copy of the project, and one tiny real run of
it (``__default__`` then ``compare``) that the browsing tests share."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
def tiny_project_run(tmp_path_factory, tiny_synthetic_session) -> Path:
    """A copy of the project after real Kedro sessions ran ``__default__`` (both models, one
    fold, two epochs, tiny synthetic set) and then ``compare``: the artifacts that Kedro-Viz,
    the notebook and the comparison tests browse. Made once per test session."""
    project = copy_project_config(tmp_path_factory.mktemp("tiny_project"))
    quick = {"epochs": 2, "batch_size": 16, "progress": False, "checkpoint_dir": None}
    model = {"experiment": {"data": {"max_folds": 1}, "train": quick}, "protocol": {"k": 2}}
    # one face source and clean meshes in both sets, to keep this shared run short: ICT-FaceKit
    # subjects and scanner variety through ingest, render and the per-source metrics have
    # tests of their own (tests/data/synthetic, tests/pipelines/test_face_source_*.py)
    tiny_synthetic = dict(tiny_synthetic_session)
    plain = {k: tiny_synthetic[k] for k in ("face_sources", "scanner_variety")}
    runtime_params = {
        "dataset": {"root": str(project / "data" / "01_raw" / "synthetic"), "n_workers": 1},
        "synthetic": tiny_synthetic,
        "render": {"size": 64, "n_workers": 1},
        "contact_sheet": {"n_subjects": 2, "size": 64},
        "pretraining": {
            "dataset": {"root": str(project / "data" / "01_raw" / "synthetic_pretraining")},
            "synthetic": {"n_subjects": 2, "resolution": 1500, "texture_size": 128, **plain},
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

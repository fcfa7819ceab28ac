"""Fixtures of the pipeline tests: a runnable copy of the project, and one tiny real run of
it (``__default__`` then ``compare``) that the session, browsing and report tests share."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest
from shared_project_runs import run_session, tiny_run_params

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


@pytest.fixture
def project_config_copy(tmp_path) -> Path:
    """A runnable project of the configuration alone, in a folder of the test's own."""
    return copy_project_config(tmp_path / "project")


@pytest.fixture(scope="session")
def tiny_project_run(tmp_path_factory, tiny_synthetic_session, new_mlflow_store) -> Path:
    """A copy of the project after real Kedro sessions ran ``__default__`` (both models, one
    fold, two epochs, tiny synthetic set) and then ``compare``: the session and MLflow store
    that the smoke test checks, and the artifacts that Kedro-Viz, the notebook, the comparison
    and the report tests browse.

    Made once per test session, also when pytest-xdist spreads its users over several worker
    processes: the first to ask builds it in the folder the workers share while the others wait
    on a lock, since building it is the suite's costliest step. Its users only read it; a test
    that runs pipelines of its own works on a copy (:func:`tiny_project_run_copy`).
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's folder lies in the run's folder
        shared = shared.parent
    with (shared / "tiny_project.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        project = shared / "tiny_project"
        if not (project / ".built").exists():
            shutil.rmtree(project, ignore_errors=True)  # a build that failed half-way
            copy_project_config(project)
            new_mlflow_store(project / "mlruns.db")
            _build_tiny_project_run(project, tiny_synthetic_session)
            (project / ".built").touch()
    return project


@pytest.fixture
def tiny_project_run_copy(tiny_project_run, tmp_path) -> Path:
    """The shared tiny run copied for one test that adds runs or files to it."""
    destination = tmp_path / "tiny_project"
    shutil.copytree(tiny_project_run, destination, ignore=shutil.ignore_patterns(".built"))
    return destination


def _build_tiny_project_run(project: Path, tiny_synthetic_session: dict) -> None:
    runtime_params = tiny_run_params(project, tiny_synthetic_session)
    # Each pipeline in a process of its own, like two `kedro run`s: kedro-mlflow keeps global
    # state (tracking URI, active run) that would leak into later tests of this process, and
    # into a second session in the same process (its comparison run then nests elsewhere).
    # `pretrain` first: the default run starts from the backbone of its recipe, which the tiny
    # run's own pretraining settings make here
    for pipeline_name in ("pretrain", "__default__", "compare"):
        run_session(project, pipeline_name, runtime_params)

"""The shared tiny project run's parameters, and a pipeline run in a Kedro session of its own
process (what tests/pipelines/conftest.py builds the shared run with, and what tests that run a
pipeline again on a copy of it use), forked from a Python that has imported the libraries
(tests/preloaded_python.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from preloaded_python import run_preloaded

#: Runs one pipeline of the project at argv[1] in a Kedro session; runtime params on stdin
#: (JSON). Its last line on stdout is ``session: <JSON>``: null, or the error that stopped it,
#: which it raises again so that the process ends as ``kedro run`` would.
RUN_SESSION = """
import json, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
project, pipeline_name = Path(sys.argv[1]), sys.argv[2]
bootstrap_project(project)
try:
    with KedroSession.create(project_path=project, runtime_params=json.load(sys.stdin)) as session:
        session.run(pipeline_name=pipeline_name)
except Exception as exc:
    print("session:", json.dumps(f"{type(exc).__name__}: {exc}"), flush=True)
    raise
print("session:", json.dumps(None), flush=True)
"""
OUTCOME = "session: "


def session_outcome(
    project: Path, pipeline_name: str, runtime_params: dict, timeout: float = 900
) -> tuple[str | None, str]:
    """Run one pipeline of ``project`` in a Kedro session of its own process: the error that
    stopped it (None when it succeeded) and its log (stdout and stderr, less that answer)."""
    done = run_preloaded(
        "-c",
        RUN_SESSION,
        project,
        pipeline_name,
        input=json.dumps(runtime_params),
        cwd=project,
        env={**os.environ, "COLUMNS": "400"},  # log records on one line each
        timeout=timeout,
    )
    lines = (done.stdout + done.stderr).splitlines(keepends=True)
    log = "".join(line for line in lines if not line.startswith(OUTCOME))
    answers = [line for line in lines if line.startswith(OUTCOME)]
    if not answers:
        raise AssertionError(f"the session's process ended without an answer:\n{log[-5000:]}")
    error = json.loads(answers[-1].removeprefix(OUTCOME))
    if error is None and done.returncode != 0:  # the session ended, its process did not cleanly
        error = f"the session's process exited with {done.returncode}"
    return error, log


def run_session(project: Path, pipeline_name: str, runtime_params: dict) -> str:
    """Run one pipeline of ``project`` in a Kedro session of its own process, which must
    succeed; returns its log (stdout and stderr)."""
    error, log = session_outcome(project, pipeline_name, runtime_params)
    assert error is None, f"{error}\n{log[-10000:]}"
    return log


def tiny_run_params(project: Path, tiny_synthetic_session: dict) -> dict:
    """The runtime parameters of the shared tiny run of ``project``."""
    quick = {"epochs": 2, "batch_size": 16}
    quiet = {"progress": False, "checkpoint_dir": None}
    model = {
        "experiment": {"data": {"max_folds": 1}, "train": quick, "execution": quiet},
        "protocol": {"k": 2},
    }
    # one face source and clean meshes in both sets, to keep this shared run short: ICT-FaceKit
    # subjects and scanner variety through ingest, render and the per-source metrics have
    # tests of their own (tests/synthetic, tests/pipelines/test_face_source_*.py)
    tiny_synthetic = dict(tiny_synthetic_session)
    plain = {k: tiny_synthetic[k] for k in ("face_sources", "scanner_variety")}
    runtime_params = {
        "dataset": {"root": str(project / "data" / "01_raw" / "synthetic"), "n_workers": 1},
        "synthetic": tiny_synthetic,
        # the built-in faces are stored face-forward: the face pose at ingest (a few seconds in
        # each of the shared run's processes) has tests of its own (tests/render/test_face_pose*,
        # tests/pipelines/test_ingest_face_pose.py)
        "render": {"size": 64, "n_workers": 1, "pose": "as_stored"},
        "contact_sheet": {"n_subjects": 2, "size": 64},
        "pretraining": {
            "dataset": {"root": str(project / "data" / "01_raw" / "synthetic_pretraining")},
            "synthetic": {"n_subjects": 2, "resolution": 1500, "texture_size": 128, **plain},
            "training": {"holdout_subjects": 1, "train": quick, "execution": quiet},
        },
        "affectvlm": model,
        "smile": model,
    }
    return runtime_params

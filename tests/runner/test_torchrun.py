"""Real multi-process training (gloo on CPU): the launcher that Kedro calls (one result back,
worker errors raised, no process left behind) and the entry point's imports.

The entry point run by hand under torchrun, as on a cluster, is tested with the pipeline that
takes its result in (``tests/pipelines/test_training_scale_out.py``): one two-process run checks
both, since each such run pays three interpreters' imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from facevlm.runner.launch import WorkerFailed, launch

pytestmark = [pytest.mark.ddp, pytest.mark.slow]


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live (non-zombie) processes that mention ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(cmdline)
    return found


def world_sizes(out: Path) -> set[int]:
    return {
        json.loads(p.read_text())["described"]["world_size"]
        for p in out.glob("fold_*/checkpoints/identity.json")
    }


def test_launch_returns_one_result_and_raises_a_workers_error(make_bundle, tmp_path, worker_env):
    bundle = make_bundle("smile", epochs=1)
    out = tmp_path / "smile-run"
    trained = launch(bundle, nproc=2, out_dir=out, folds=[1], env=worker_env, timeout=600)
    assert trained.result.model == "smile" and [f.fold for f in trained.result.folds] == [1]
    assert "knn" in trained.result.evaluations  # the SMILE evaluations ran
    assert trained.model.info["fold"] == 1
    assert world_sizes(out) == {2}
    assert processes_mentioning(str(out)) == []

    # one worker is enough to fail: each worker reads the same overrides, and each worker
    # costs an interpreter that imports torch and open_clip
    broken = tmp_path / "broken-run"
    with pytest.raises(WorkerFailed, match="unknown parameter"):
        launch(bundle, nproc=1, out_dir=broken, overrides={"train.epoch": 1}, env=worker_env)
    assert processes_mentioning(str(broken)) == []


def test_launch_kills_every_worker_on_timeout(make_bundle, tmp_path, worker_env):
    bundle = make_bundle("affectvlm", epochs=500)
    out = tmp_path / "endless"
    with pytest.raises(TimeoutError, match="killed"):
        # long enough for torchrun to have started its workers, short enough to cost little
        launch(bundle, nproc=2, out_dir=out, folds=[0], env=worker_env, timeout=6)
    assert processes_mentioning(str(out)) == []


@pytest.mark.parametrize("module", ["facevlm.train", "facevlm.runner.launch"])
def test_training_entry_point_runs_where_only_torch_is_installed(module):
    """A cluster node may have torch and open_clip but not Kedro, MLflow or VTK: importing the
    entry point (and so everything a worker runs) must not pull them in."""
    probe = (
        f"import sys, {module}; "
        "print(sorted(m for m in ('kedro', 'kedro_datasets', 'mlflow', 'pyvista', 'vtk', "
        "'streamlit') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"

"""Real multi-process training (gloo on CPU): the entry point under torchrun, and the launcher
that Kedro calls (one result back, worker errors raised, no process left behind)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facevlm.distributed.bundle_training import load_training_result
from facevlm.distributed.launch import WorkerFailed, launch

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
        for p in (out / "checkpoints").glob("run-*/identity.json")
    }


def test_entry_point_under_torchrun_trains_one_model_on_two_processes(
    make_bundle, tmp_path, worker_env
):
    bundle = make_bundle("affectvlm")
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "facevlm.train", str(bundle), "--out", str(out), "--fold", "0",
    ]  # fmt: skip
    done = subprocess.run(
        cmd, env={**os.environ, **worker_env}, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = load_training_result(out)
    assert [f.fold for f in result.result.folds] == [0]
    assert [r["epoch"] for r in result.result.folds[0].history] == [1.0, 2.0]
    assert world_sizes(out) == {2}  # both processes trained the one model together
    assert "test/accuracy_mean" in done.stdout  # rank 0 printed the metrics, once
    assert done.stdout.count("test/accuracy_mean") == 1
    model, _ = result.model.build()
    assert model.fusion is not None


def test_launch_returns_one_result_and_raises_a_workers_error(make_bundle, tmp_path, worker_env):
    bundle = make_bundle("smile", epochs=1)
    out = tmp_path / "smile-run"
    trained = launch(bundle, nproc=2, out_dir=out, folds=[1], env=worker_env, timeout=600)
    assert trained.result.model == "smile" and [f.fold for f in trained.result.folds] == [1]
    assert "knn" in trained.result.evaluations  # the SMILE evaluations ran
    assert trained.model.info["fold"] == 1
    assert world_sizes(out) == {2}
    assert processes_mentioning(str(out)) == []

    broken = tmp_path / "broken-run"
    with pytest.raises(WorkerFailed, match="unknown parameter"):
        launch(bundle, nproc=2, out_dir=broken, overrides={"train.epoch": 1}, env=worker_env)
    assert processes_mentioning(str(broken)) == []


def test_launch_kills_every_worker_on_timeout(make_bundle, tmp_path, worker_env):
    bundle = make_bundle("affectvlm", epochs=500)
    out = tmp_path / "endless"
    with pytest.raises(TimeoutError, match="killed"):
        launch(bundle, nproc=2, out_dir=out, folds=[0], env=worker_env, timeout=25)
    assert processes_mentioning(str(out)) == []


@pytest.mark.parametrize("module", ["facevlm.train", "facevlm.distributed.launch"])
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

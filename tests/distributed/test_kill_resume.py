"""Kill and resume: ``python -m facevlm.train`` SIGKILLed in the second fold, after one of its
epoch checkpoints, and started again with the same command, ends with the weights, histories and
metrics of a run that was never interrupted (bit-identical on CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from facevlm.distributed.bundle_training import load_training_result

pytestmark = pytest.mark.slow


def command(bundle: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "facevlm.train", str(bundle), "--out", str(out)]


def without_time(history):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in history]


def second_fold_checkpoint(out: Path) -> bool:
    """Fold 0 is finished and fold 1 (the other run folder) has an epoch checkpoint."""
    if not (out / "folds" / "fold_0.result.pkl").exists():
        return False
    if (out / "folds" / "fold_1.result.pkl").exists():
        raise AssertionError("fold 1 finished before it could be killed: make its epochs longer")
    return len(list((out / "checkpoints").glob("run-*/epoch_*.pt"))) >= 2


def test_a_killed_run_resumes_and_ends_as_the_uninterrupted_one(make_bundle, tmp_path, worker_env):
    bundle = make_bundle("smile", epochs=4, keep_checkpoints=1)
    env = {**os.environ, **worker_env}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(bundle, whole), env=env, check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(
        command(bundle, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 600
        while not second_fold_checkpoint(killed):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not (killed / "result.pkl").exists()
    fold_0 = killed / "folds" / "fold_0.result.pkl"
    stamp = fold_0.stat().st_mtime_ns

    again = subprocess.run(
        command(bundle, killed), env=env, check=True, capture_output=True, text=True, timeout=600
    )
    assert "fold 0: finished earlier, result reused" in again.stderr
    assert "resumed from" in again.stderr and "epoch_000" in again.stderr
    assert fold_0.stat().st_mtime_ns == stamp

    a, b = load_training_result(whole), load_training_result(killed)
    assert b.result.final_metrics() == a.result.final_metrics()
    for fa, fb in zip(a.result.folds, b.result.folds, strict=True):
        assert without_time(fb.history) == without_time(fa.history)
        assert (fb.test_embeddings == fa.test_embeddings).all()
    for name, value in a.model.state_dict.items():
        assert torch.equal(value, b.model.state_dict[name]), name

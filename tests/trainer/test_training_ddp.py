"""DDP under torchrun (2 CPU processes, gloo) reproduces the single-process run of the same
global batch: gradients averaged, sampler sharded, the loss module's parameter synchronised."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"


@pytest.mark.slow
@pytest.mark.ddp  # spawns two torchrun processes: about 30 s on 2 busy cores
def test_torchrun_ddp_matches_single_process(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "ddp_train_worker.py"),
        str(tmp_path),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]

    sys.path.insert(0, str(HERE))
    from ddp_train_setup import EXECUTION, make_setup

    from facevlm.trainer import train

    model, loss, dataset, cfg = make_setup(batch_size=8)
    history = train(model, loss, dataset, cfg, execution=EXECUTION)
    single = model.state_dict()
    initial = make_setup(batch_size=8)[0].state_dict()

    for name, value in single.items():
        assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name]), name  # in sync
        torch.testing.assert_close(ranks[0]["state"][name], value, atol=2e-5, rtol=1e-4)
    for r in ranks:
        torch.testing.assert_close(r["loss"]["scale"], loss.scale.detach(), atol=2e-5, rtol=1e-4)
    assert loss.scale.item() != 1.0  # the loss parameter trained, and identically under DDP
    moved = [n for n in single if not torch.equal(single[n], initial[n])]
    assert "fusion.query" in moved and "clip.visual.proj" in moved
    loss_ddp = ranks[0]["history"][0]["loss"]
    assert loss_ddp == pytest.approx(history.last["loss"], rel=1e-4)

"""torchrun worker of test_training_ddp.py: trains the tiny model for one epoch on CPU (gloo).

torchrun --nproc_per_node=2 tests/trainer/ddp_train_worker.py OUT_DIR
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from facevlm.trainer import setup_distributed, train  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from ddp_train_setup import EXECUTION, make_setup  # noqa: E402

if __name__ == "__main__":
    rank, world, _ = setup_distributed("cpu")
    assert world == 2 and dist.is_initialized()
    model, loss, dataset, cfg = make_setup(batch_size=4)  # per process: global batch 8
    history = train(model, loss, dataset, cfg, execution=EXECUTION)
    out = {"state": model.state_dict(), "loss": loss.state_dict(), "history": history.epochs}
    torch.save(out, f"{sys.argv[1]}/rank{rank}.pt")
    dist.destroy_process_group()

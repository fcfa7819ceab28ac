"""Distributed set-up: the process group from torchrun's environment, and each process's device.

Outside torchrun every function here is a no-op or answers for one process, so the same training
code runs in one process or many.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

from facevlm.models.losses.distributed import is_distributed, rank, world_size

__all__ = [
    "all_ranks",
    "is_distributed",
    "rank",
    "resolve_device",
    "setup_distributed",
    "world_size",
]


def setup_distributed(device: str = "auto") -> tuple[int, int, int]:
    """Initialise the process group from torchrun's environment; returns (rank, world, local_rank).

    No-op (returns ``(0, 1, 0)``) when not launched by torchrun. ``device`` is the run's
    ``execution.device``: NCCL and one GPU per process when it trains on CUDA, gloo when it trains on
    the CPU -- also on a machine that has a GPU (a CPU run there once picked NCCL and failed).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not is_distributed():
        on_cuda = resolve_device(device).type == "cuda"
        if on_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    return rank(), world if is_distributed() else 1, local_rank


def resolve_device(name: str) -> torch.device:
    """The training device for ``execution.device`` (auto | cpu | cuda | cuda:N).

    ``auto`` and a bare ``cuda`` get an explicit index: the process's own GPU under torchrun
    (``LOCAL_RANK``), else GPU 0 of those visible. ``torch.cuda.set_device`` needs one."""
    if name == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda" if name == "auto" else name)
    if device.type == "cuda" and device.index is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0
        return torch.device("cuda", local_rank)
    return device


def all_ranks(value: Any) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]`` (a list of one outside DDP)."""
    if not is_distributed():
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered

"""What lets a run resume exactly: its checkpoint identity and the states a checkpoint restores.

A run's checkpoints go to a folder keyed by everything that determines the run (the training
config, its run key, the data, the initial weights, the losses, the augmentation, the
number of processes; see :mod:`facevlm.models.checkpoints`), or to a folder its caller already
keyed, where the same identity is checked, so ``resume: latest`` only ever continues this run's.
A checkpoint also holds every rank's generator states, the dataset's own state
(SMILE-VLM's pseudo-label prompts) and the caller's ``extra_state``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import torch.distributed as dist
from torch import nn

from facevlm.models.checkpoints import (
    Stateful,
    module_signature,
    run_identity,
    set_rng_state,
    state_digest,
)
from facevlm.trainer.config import TrainConfig
from facevlm.trainer.distributed import is_distributed, rank

logger = logging.getLogger(__name__)


def checkpoint_identity(
    model: nn.Module, losses: nn.ModuleList, dataset: Any, augment: Any, cfg: TrainConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's checkpoint identity (:func:`run_identity`) and its readable description.

    ``cfg`` is what the run computes, whole; how it executes (an ``ExecutionConfig``) is no part
    of the identity, so the run is found again however it is launched."""
    config = asdict(cfg)
    fingerprint = getattr(dataset, "fingerprint", None)
    data = (
        fingerprint() if callable(fingerprint) else f"{type(dataset).__qualname__}:{len(dataset)}"
    )
    parts = {
        "config": config,
        "run_key": cfg.run_key,
        "data": data,
        "initial_weights": state_digest(model),
        "losses": [state_digest(losses), module_signature(losses)],
        "augment": module_signature(augment),
        "world_size": dist.get_world_size() if is_distributed() else 1,
    }
    described = {**parts, "losses": module_signature(losses)}
    return run_identity(parts), described


def dataset_state(dataset: Any) -> dict[str, Any] | None:
    state_dict = getattr(dataset, "state_dict", None)
    return state_dict() if callable(state_dict) else None


def restore_states(state: dict[str, Any], dataset: Any, extra_state: Stateful | None) -> None:
    """Restore the dataset's prompts, the caller's extra state and this rank's generators."""
    if state.get("dataset") is not None and callable(getattr(dataset, "load_state_dict", None)):
        dataset.load_state_dict(state["dataset"])
    if extra_state is not None:
        if state.get("extra") is None:
            raise ValueError("the checkpoint holds no extra state to restore")
        extra_state.load_state_dict(state["extra"])
    rngs = state.get("rng") or []
    if len(rngs) == (dist.get_world_size() if is_distributed() else 1):
        set_rng_state(rngs[rank()])
    elif rngs:
        logger.warning(
            "checkpoint written by %d processes, resumed by another number: "
            "generator states not restored",
            len(rngs),
        )

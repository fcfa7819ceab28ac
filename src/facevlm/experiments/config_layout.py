"""Where a config's execution settings live: beside ``train``.

An experiment's parameters (and ``pretraining.training``) hold what a run computes in ``train``
(:class:`~facevlm.trainer.TrainConfig`) and how it executes in ``execution``
(:class:`~facevlm.trainer.ExecutionConfig`). Earlier versions kept both in ``train``, and a
person's parameters or command line may still: an execution setting under ``train`` is a clear
error that names its place now (:func:`refuse_execution_in_train`), not a setting silently
ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from facevlm.trainer import ExecutionConfig

#: The execution settings, by name (the fields of :class:`ExecutionConfig`).
EXECUTION_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ExecutionConfig))


def refuse_execution_in_train(params: Mapping[str, Any] | None, where: str, place: str) -> None:
    """Raise ``ValueError`` when ``params["train"]`` holds an execution setting, naming its place
    now (``place``, e.g. ``experiment.execution``); ``where`` names the parameter block."""
    train = (params or {}).get("train")
    if not isinstance(train, Mapping):
        return
    moved = [key for key in EXECUTION_KEYS if key in train]
    if moved:
        named = ", ".join(f"train.{key}" for key in moved)
        now = ", ".join(f"{place}.{key}" for key in moved)
        raise ValueError(
            f"{where}: {named} moved to {now}: how a run executes is kept apart from train, "
            "what it computes"
        )

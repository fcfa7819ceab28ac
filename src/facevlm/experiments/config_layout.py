"""Where a config's execution settings live: beside ``train`` now, inside it before.

An experiment's parameters (and ``pretraining.training``) hold what a run computes in ``train``
(:class:`~facevlm.trainer.TrainConfig`) and how it executes in ``execution``
(:class:`~facevlm.trainer.ExecutionConfig`). Earlier versions kept both in ``train``, and what
they wrote keeps that layout. So:

- parameters a person writes must use the new place; an execution setting under ``train`` is a
  clear error that names it (:func:`refuse_execution_in_train`);
- a config read back from a stored artifact (a training bundle's ``config.json``) has its
  execution settings moved across silently (:func:`moved_to_execution`);
- the digests that name stored things (a training bundle's content digest, the pretraining
  cache's key) were first made with the execution settings inside ``train``, and digest that
  layout still (:func:`with_execution_in_train`): a new layout must not rename what is on disk,
  or a resumable run would start again and a cache would be missed.
"""

from __future__ import annotations

import copy
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


def moved_to_execution(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config in the current layout: execution settings found in ``train`` moved to
    ``execution`` (a value already there wins). A config in the current layout is returned as
    it is (a copy)."""
    config = copy.deepcopy(dict(config))
    train = config.get("train")
    if not isinstance(train, dict):
        return config
    found = {key: train.pop(key) for key in EXECUTION_KEYS if key in train}
    if found:
        config["execution"] = {**found, **(config.get("execution") or {})}
    return config


def with_execution_in_train(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` in the layout the stored digests were first made with: the ``execution``
    block's settings inside ``train``, and no ``execution`` block."""
    config = copy.deepcopy(dict(config))
    execution = config.pop("execution", None)
    if execution:
        config["train"] = {**(config.get("train") or {}), **execution}
    return config

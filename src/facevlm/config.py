"""Turn Kedro's nested parameter dicts into typed dataclass configs, refusing unknown keys.

Parameters arrive as plain dicts (``params:affectvlm``); the library wants dataclasses with
defaults that document themselves. A misspelt key must fail loudly (a silently ignored
``learning_rate`` would train with the default), so every key has to match a field.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], values: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``values``; nested dataclass fields take nested dicts."""
    values = dict(values or {})
    where = where or cls.__name__
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; known: {sorted(known)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        target = _without_none(hints.get(name))
        if dataclasses.is_dataclass(target) and isinstance(value, Mapping):
            value = from_dict(target, value, f"{where}.{name}")
        elif isinstance(value, list) and typing.get_origin(target) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _without_none(hint: Any) -> Any:
    """``X | None`` → ``X`` (an optional nested config is still built from its dict)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            return options[0]
    return hint


def to_dict(config: Any) -> dict[str, Any]:
    """The dataclass as a plain nested dict (for logging and for saving with a model)."""
    return dataclasses.asdict(config)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys replaced recursively: how a parameter block that
    overrides another (``params:smile_mer`` over ``params:smile``) is resolved."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged

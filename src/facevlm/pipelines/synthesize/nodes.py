"""Nodes of the ``synthesize`` pipeline: thin wrappers around :mod:`facevlm.synthetic`."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from facevlm.pipelines.datasets_in_use import datasets_of

logger = logging.getLogger(__name__)

#: ``dataset.name`` that reads nothing (e.g. ``pretraining.dataset.name: none``).
NO_DATASET = "none"


def prepare_raw_scans(
    dataset: dict[str, Any],
    synthetic: dict[str, Any],
    datasets_in_use: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make sure the raw scans exist and describe them.

    With ``dataset.name = synthetic`` this writes the built-in set under ``dataset.root`` — or
    reuses the files already there when they were made with the same seed and sizes. Only the
    layouts the run's models read are needed (``datasets_in_use``, e.g. ``synthetic-bu3dfe`` →
    the BU-3DFE folder; all datasets: every layout of ``synthetic.layouts``); those already on disk
    are kept and the missing ones added. For a real
    dataset it only checks that the root folder exists, so a typo fails here with a clear message
    rather than as an empty index. ``name: none`` means no dataset at all (how the pretraining
    corpus is switched off): nothing is written and the index will be empty.
    """
    name = dataset["name"]
    if name == NO_DATASET:
        return {"dataset": name, "root": None, "generated": False}
    root = Path(dataset["root"]).expanduser()
    if name != "synthetic":
        if not root.is_dir():
            raise FileNotFoundError(f"dataset.root {root} for dataset {name!r} is not a folder")
        return {"dataset": name, "root": str(root.resolve()), "generated": False}

    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

    config = SyntheticConfig(**synthetic)
    layouts = synthetic_layouts_in_use(config.layouts, datasets_of(datasets_in_use))
    manifest = generate_synthetic_dataset(root, dataclasses.replace(config, layouts=layouts))
    return {"dataset": name, "root": str(root.resolve()), "generated": True, "synthetic": manifest}


def synthetic_layouts_in_use(
    configured: tuple[str, ...], datasets_in_use: list[str] | None
) -> tuple[str, ...]:
    """The synthetic layouts behind the index datasets a run reads (``synthetic-bu4dfe`` →
    ``bu4dfe``), among those ``configured``; all of them when the run reads every dataset or
    names one that is not a synthetic layout (it cannot be told which it needs)."""
    from facevlm.scans.layouts.base import SYNTHETIC_PREFIX, base_dataset

    if not datasets_in_use or not all(
        name.startswith(SYNTHETIC_PREFIX) and base_dataset(name) in configured
        for name in datasets_in_use
    ):
        return configured
    wanted = {base_dataset(name) for name in datasets_in_use}
    return tuple(layout for layout in configured if layout in wanted)

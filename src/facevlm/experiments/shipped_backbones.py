"""Pretrained backbones kept by the content of their recipe, so that a first run need not
pretrain.

Why: pretraining the CPU backbone on its synthetic corpus is most of a first `kedro run` (the
corpus written, indexed and rendered, then the CLIP pretraining: about nine of its minutes on
two cores), and its result depends only on the recipe: the pretraining parameters and the
render settings the corpus is drawn with. So the project keeps the backbone a recipe made in
a folder of the repository (``pretraining.store``, ``pretrained/``), one file per recipe named
by the recipe's digest, with the SHA-256 of the weights beside it. A run whose recipe has a
file there starts from it, verified; a recipe without one (parameters changed) is built with
``kedro run --pipeline=pretrain``, which leaves its file in the same folder (commit it to
ship it).

What is in a recipe, and what not: everything that changes the corpus or the training (the
corpus' synthetic settings and dataset options, the captions and training parameters, the
render settings) and nothing about where or how fast it runs (folders, worker counts, the
``execution`` block: device, progress bar, checkpoints), nor the 4D frame selection (the
corpus is still images). Code changes to the generators do not rename a recipe, as new
library code does not rename a downloaded CLIP checkpoint: a maintainer who changes what the
corpus looks like builds and commits a new file.

Layout of the store::

    <store>/<architecture>-<recipe digest>.pt      {"state_dict", "history", "holdout_zero_shot"}
    <store>/<architecture>-<recipe digest>.json    {"sha256", "architecture", "recipe", ...}
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch

from facevlm.atomic_files import atomic_write
from facevlm.digests import file_digest, json_digest
from facevlm.experiments.pretrain import PretrainedBackbone

#: Keys of ``pretraining`` that say where or how the corpus is made, not what it is.
_NOT_RECIPE_PRETRAINING = ("store",)
_NOT_RECIPE_DATASET = ("root", "n_workers")
#: Keys of ``render`` that say how fast the corpus is rendered or which sets, not how.
_NOT_RECIPE_RENDER = ("n_workers", "datasets", "frames")


class BackboneNotBuiltError(LookupError):
    """No backbone of this recipe in the store: build it with the ``pretrain`` pipeline."""


class BackboneDigestError(ValueError):
    """A stored backbone whose weights are not the ones its description names."""


def backbone_recipe(pretraining: dict[str, Any], render: dict[str, Any]) -> dict[str, Any]:
    """What a pretrained backbone depends on: ``pretraining`` and ``render`` without the keys
    that only say where or how fast (module docstring)."""
    recipe = copy.deepcopy(pretraining)
    for key in _NOT_RECIPE_PRETRAINING:
        recipe.pop(key, None)
    for key in _NOT_RECIPE_DATASET:
        recipe.get("dataset", {}).pop(key, None)
    recipe.get("training", {}).pop("execution", None)
    recipe["render"] = {k: v for k, v in render.items() if k not in _NOT_RECIPE_RENDER}
    return recipe


def recipe_name(recipe: dict[str, Any]) -> str:
    """The file stem of a recipe's backbone: its architecture and 16 hex digits of its digest
    (``facevlm-tiny-0123456789abcdef``)."""
    architecture = recipe.get("training", {}).get("backbone", "backbone")
    return f"{architecture}-{json_digest(recipe, 'sha256', hex_digits=16, default=str)}"


def store_backbone(store: str | Path, recipe: dict[str, Any], backbone: PretrainedBackbone) -> Path:
    """Write ``backbone`` into ``store`` under ``recipe``'s name (weights, then the description
    with their SHA-256); returns the weight file. Each file is written whole or not at all."""
    folder = Path(store)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{recipe_name(recipe)}.pt"
    payload = {
        "state_dict": backbone.state_dict,
        "history": backbone.history,
        "holdout_zero_shot": backbone.holdout_zero_shot,
    }
    with atomic_write(weights) as tmp:
        torch.save(payload, tmp)
    description = {
        "architecture": backbone.architecture,
        "sha256": file_digest(weights, "sha256"),
        "epochs": len(backbone.history),
        "holdout_zero_shot": backbone.holdout_zero_shot,
        "recipe": recipe,
    }
    with atomic_write(weights.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(description, indent=2, sort_keys=True, default=str) + "\n")
    return weights


def load_backbone(store: str | Path, recipe: dict[str, Any]) -> PretrainedBackbone:
    """The backbone ``recipe`` made, from ``store``, its weights checked against the SHA-256
    its description gives.

    Raises:
        BackboneNotBuiltError: the store has no backbone of this recipe (the message names
            the recipe, the store and how to build it).
        BackboneDigestError: the weight file is not the one described (damaged, or replaced
            without its description).
    """
    name = recipe_name(recipe)
    weights = Path(store) / f"{name}.pt"
    description_file = weights.with_suffix(".json")
    if not (weights.exists() and description_file.exists()):
        kept = sorted(p.stem for p in Path(store).glob("*.json"))
        raise BackboneNotBuiltError(
            f"no pretrained backbone of this pretraining recipe ({name}) in {store}"
            f" (it holds: {', '.join(kept) or 'none'}): build it with "
            "`kedro run --pipeline=pretrain` and the same --env and --params, then run again"
        )
    description = json.loads(description_file.read_text())
    found = file_digest(weights, "sha256")
    if found != description.get("sha256"):
        raise BackboneDigestError(
            f"{weights}: SHA-256 {found[:16]}... is not the {str(description.get('sha256'))[:16]}"
            "... its description gives (a damaged or replaced file): delete both files and "
            "build it again with `kedro run --pipeline=pretrain`"
        )
    payload = torch.load(weights, map_location="cpu")
    return PretrainedBackbone(
        state_dict=payload["state_dict"],
        architecture=description["architecture"],
        history=payload["history"],
        holdout_zero_shot=payload["holdout_zero_shot"],
    )

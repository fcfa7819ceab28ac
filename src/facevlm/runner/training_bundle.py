"""The training bundle: everything one model's training needs, in one folder, without Kedro.

A Kedro run prepares the data (renders, folds, prompts, pretrained weights) and writes it as a
bundle; ``python -m facevlm.train`` (alone, or under ``torchrun`` on one or many machines) trains
from the bundle and nothing else. Put the bundle on storage every machine sees::

    <bundle>/
        bundle.json           format, model (affectvlm | smile), classes, tags, content digest
        config.json           the resolved experiment config (the model's ``experiment`` params;
                              a bundle written before ``execution`` had its own block holds
                              the execution settings in ``train``: they are moved when read)
        views.npy, views.json (N, V, S, S, 3) uint8 views at the model's input size (see
                              :mod:`facevlm.scans.view_store`): read by rows, never all at once
        samples.parquet       one row per sample: sample_id, label (class index), fold (the
                              protocol's fold table joined to the samples; -1: training only),
                              and the metadata the prompts use (subject, gender, ...)
        prompt_bank.parquet   the prompt bank the model trains with
        pretrained_backbone.pt  the backbone's starting weights, when they were a local file

The folder is written under a temporary name and renamed, so a bundle that exists is complete.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from facevlm.digests import FINGERPRINT_ALGORITHM, file_digest, fingerprint_hasher
from facevlm.experiments.config_layout import moved_to_execution, with_execution_in_train
from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.recipes import get_recipe, recipe_entry
from facevlm.models.checkpoints import digest, tensor_digest
from facevlm.scans.view_store import ViewArray, write_view_store

FORMAT = "facevlm-training-bundle"
VERSION = 1
PRETRAINED_FILE = "pretrained_backbone.pt"
_CHUNK = 64  # samples per write


@dataclass
class TrainingBundle:
    """A loaded bundle: the model to train, its config, its data and prompts."""

    folder: Path
    model: str  # affectvlm | smile
    config: dict[str, Any]  # the experiment parameters, with local paths made absolute
    data: ExperimentData  # views: a lazy ViewArray over views.npy
    prompt_bank: pd.DataFrame
    tags: dict[str, str] = field(default_factory=dict)
    digest: str = ""  # of config, data and prompts: what a fold's results depend on

    def experiment_config(self):
        """The typed config (:class:`AffectVLMConfig` or :class:`SmileConfig`)."""
        return get_recipe(self.model).config_type.from_params(copy.deepcopy(self.config))


def write_training_bundle(
    folder: str | Path,
    model: str,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    experiment: dict[str, Any],
    tags: dict[str, str] | None = None,
) -> Path:
    """Write ``data`` (views already at the model's size), prompts and the resolved experiment
    config as a bundle at ``folder`` (replacing one that is there); returns the folder.

    ``experiment`` is the model's ``experiment`` parameter dict with ``pretrained: pipeline``
    already resolved to a weight file (``resolve_pipeline_weights``); a local weight file is
    copied into the bundle so that the bundle is all another machine needs.
    """
    recipe_entry(model)  # an unknown model fails here, before anything is written
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        config = copy.deepcopy(experiment)
        backbone = config.get("model", {}).get("backbone", {})
        weights = backbone.get("pretrained")
        if isinstance(weights, str) and Path(weights).expanduser().is_file():
            shutil.copyfile(Path(weights).expanduser(), tmp / PRETRAINED_FILE)
            backbone["pretrained"] = PRETRAINED_FILE  # relative: resolved when loaded
        views = data.views
        n, v, h, w, _ = views.shape
        chunks = (_rows(views, s, min(s + _CHUNK, n)) for s in range(0, n, _CHUNK))
        write_view_store(tmp / "views.npy", chunks, n, v, (h, w))
        samples = data.samples.reset_index(drop=True).assign(label=np.asarray(data.labels))
        if "fold" not in samples.columns:
            raise ValueError("the experiment data has no fold column (join the fold table first)")
        samples.to_parquet(tmp / "samples.parquet", index=False)
        prompt_bank.to_parquet(tmp / "prompt_bank.parquet", index=False)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str))
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "model": model,
            "classes": list(data.classes),
            "tags": dict(tags or {}),
            # the layout the digest was first made with: fold keys made from it name fold
            # results on disk, which a bundle in the current layout must find again
            "digest": digest(
                model,
                with_execution_in_train(config),
                ViewArray(tmp / "views.npy").fingerprint(),
                samples.astype(str).to_dict("list"),
                prompt_bank.astype(str).to_dict("list"),
            ),
        }
        (tmp / "bundle.json").write_text(json.dumps(manifest, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def weights_named_by_content(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (an experiment config as a dict) with a local pretrained weight file named by
    its tensors instead of its path, for the keys that name a run on disk.

    The path is no part of what a run computes, and it changes from one ``kedro run`` to the
    next: the ``pretrain`` pipeline's weights are a versioned dataset, saved under a new
    timestamped folder on every run even when the pretraining cache supplies the same tensors,
    and a bundle's copy lies wherever the bundle was put. The file's bytes are no better a
    name: ``torch.save`` names the records inside a file after the file."""
    backbone = config.get("model", {}).get("backbone", {})
    weights = backbone.get("pretrained")
    if not (isinstance(weights, str) and Path(weights).expanduser().is_file()):
        return config
    named = copy.deepcopy(config)
    named["model"]["backbone"]["pretrained"] = f"weights:{weights_digest(weights)}"
    return named


def weights_digest(path: str | Path) -> str:
    """A digest of the tensors (names, dtypes, shapes, values) a weight file holds; of its bytes
    when torch cannot read it as plain tensors (a format open_clip reads by other means)."""
    path = Path(path).expanduser()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a torch file of tensors: its bytes are all there is to name it by
        return file_digest(path, FINGERPRINT_ALGORITHM)
    h = fingerprint_hasher()
    _update_with_tensors(h, state)
    return h.hexdigest()


def _update_with_tensors(h: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        h.update(tensor_digest(value).encode())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            h.update(f"<{key}>".encode())
            _update_with_tensors(h, value[key])
    elif isinstance(value, list | tuple):
        for item in value:
            _update_with_tensors(h, item)
    else:
        h.update(repr(value).encode())


def _rows(views: Any, start: int, stop: int) -> np.ndarray:
    if isinstance(views, ViewArray):
        return views.take(np.arange(start, stop))
    return np.asarray(views[start:stop], dtype=np.uint8)


def is_training_bundle(folder: str | Path) -> bool:
    """Whether ``folder`` holds a complete bundle (a bundle appears by one rename, whole)."""
    return (Path(folder) / "bundle.json").is_file()


def load_training_bundle(folder: str | Path) -> TrainingBundle:
    """Open a bundle (the views stay on disk); a missing or foreign folder is a clear error."""
    folder = Path(folder)
    manifest_path = folder / "bundle.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{folder}: not a training bundle (bundle.json missing)")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(
            f"{manifest_path}: format {manifest.get('format')!r} version "
            f"{manifest.get('version')!r}, expected {FORMAT!r} version {VERSION}"
        )
    config = moved_to_execution(json.loads((folder / "config.json").read_text()))
    backbone = config.get("model", {}).get("backbone", {})
    if backbone.get("pretrained") == PRETRAINED_FILE:
        backbone["pretrained"] = str((folder / PRETRAINED_FILE).resolve())
    samples = pd.read_parquet(folder / "samples.parquet")
    views = ViewArray(folder / "views.npy")
    if len(views) != len(samples):
        raise ValueError(f"{folder}: {len(views)} rows in views.npy, {len(samples)} samples")
    labels = samples["label"].to_numpy(np.int64)
    data = ExperimentData(views, labels, samples.drop(columns=["label"]), manifest["classes"])
    return TrainingBundle(
        folder=folder,
        model=manifest["model"],
        config=config,
        data=data,
        prompt_bank=pd.read_parquet(folder / "prompt_bank.parquet"),
        tags=manifest.get("tags", {}),
        digest=manifest["digest"],
    )

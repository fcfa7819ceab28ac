"""The training bundle: everything one model's training needs, in one folder, without Kedro.

A Kedro run prepares the data (renders, folds, prompts, pretrained weights) and writes it as a
bundle; ``python -m facevlm.train`` (alone, or under ``torchrun`` on one or many machines) trains
from the bundle and nothing else. Put the bundle on storage every machine sees::

    <bundle>/
        bundle.json           format, model (affectvlm | smile), classes, tags, content digest
        config.json           the resolved experiment config (the model's ``experiment`` params)
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

from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.recipes import get_recipe, recipe_entry
from facevlm.runner.identity import RunIdentity, prompts_fingerprint, run_identity
from facevlm.scans.view_store import ViewArray, write_view_store

FORMAT = "facevlm-training-bundle"
VERSION = 2  # 2: the run's identity (data and prompts fingerprints) in bundle.json
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
    digest: str = ""  # what the run computes (RunIdentity.computes of the config written)
    data_fingerprint: str = ""  # of the data it was written from (ExperimentData.fingerprint)
    prompts: str = ""  # of its prompt bank (prompts_fingerprint)

    def experiment_config(self):
        """The typed config (:class:`AffectVLMConfig` or :class:`SmileConfig`)."""
        return get_recipe(self.model).config_type.from_params(copy.deepcopy(self.config))

    def identity(self, cfg: Any, processes: int = 1) -> RunIdentity:
        """The identity of training this bundle with ``cfg`` (its config, perhaps with
        overrides) by ``processes`` processes here: the data and prompts are those the bundle
        was written from, so that a bundle trained as written is the run that wrote it."""
        return run_identity(self.model, cfg, self.data_fingerprint, self.prompts, processes)


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
        # the written config's identity, from the data and prompts as given (the run folder's
        # key names them so): the weights count by their tensors, wherever the copy lies
        cfg = get_recipe(model).config_type.from_params(copy.deepcopy(experiment))
        data_fingerprint, prompts = data.fingerprint(), prompts_fingerprint(prompt_bank)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "model": model,
            "classes": list(data.classes),
            "tags": dict(tags or {}),
            "digest": run_identity(model, cfg, data_fingerprint, prompts).computes,
            "data_fingerprint": data_fingerprint,
            "prompts": prompts,
        }
        (tmp / "bundle.json").write_text(json.dumps(manifest, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def _rows(views: Any, start: int, stop: int) -> np.ndarray:
    if isinstance(views, ViewArray):
        return views.take(np.arange(start, stop))
    return np.asarray(views[start:stop], dtype=np.uint8)


def is_training_bundle(folder: str | Path) -> bool:
    """Whether ``folder`` holds a complete bundle of this version (a bundle appears by one
    rename, whole; one of another version is written again)."""
    manifest = Path(folder) / "bundle.json"
    if not manifest.is_file():
        return False
    found = json.loads(manifest.read_text())
    return found.get("format") == FORMAT and found.get("version") == VERSION


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
    config = json.loads((folder / "config.json").read_text())
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
        data_fingerprint=manifest["data_fingerprint"],
        prompts=manifest["prompts"],
    )

"""What a training run is, in one place: :func:`run_identity`.

A run is what it computes (the recipe, its config without the execution settings, the data's
content, the prompts, the pretrained weights' tensors) and what it computes on (the number of
processes, which sets the per-process batch, and the numerical path: code paths, threads, a
GPU). Every name and check of the runner comes from it:

- the run folder, ``<runs_dir>/<recipe>-<key16>``, and a training bundle's ``digest`` are
  :attr:`RunIdentity.computes`: a run resumed with other threads or on another device still
  finds its folder and bundle;
- a fold's result records :meth:`RunIdentity.record`, and is reused only when this run's
  record is the same; the trainer's ``run_key`` of every fold's and the final fit's epoch
  checkpoints is :attr:`RunIdentity.key`, so a checkpoint computed on another path is
  replaced, never continued;
- what cannot be reused is said in one log line naming the difference
  (:meth:`RunIdentity.why_not_reused`) instead of being trained again silently.

The trainer still checks what only it sees (the initial weights, the losses, the
augmentation) in its own checkpoint identity (:mod:`facevlm.trainer.resume`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from facevlm.digests import FINGERPRINT_ALGORITHM, file_digest, fingerprint_hasher
from facevlm.experiments.common import computed_config
from facevlm.models.checkpoints import digest, tensor_digest


@dataclass(frozen=True)
class RunIdentity:
    """One run: what it computes, and what it computes on."""

    recipe: str
    computes: str  # digest of the recipe, config, data and prompts
    processes: int
    numerics: str  # facevlm.numerics.describe() of the training device

    @property
    def folder_name(self) -> str:
        """The run folder's name under ``caches.training_runs``."""
        return f"{self.recipe}-{self.computes[:16]}"

    @property
    def key(self) -> str:
        """The whole identity as one digest: the trainer's ``run_key``."""
        return digest(self.record())

    def record(self) -> dict[str, Any]:
        """What a finished result stores, to be compared with a later run's."""
        return {"computes": self.computes, "processes": self.processes, "numerics": self.numerics}

    def why_not_reused(self, record: Mapping[str, Any]) -> str | None:
        """Why work recorded as ``record`` is not this run's (``None``: it is), in words."""
        if record.get("computes") != self.computes:
            return "it was computed from other data or parameters"
        if record.get("processes") != self.processes:
            return (
                f"it was computed by {record.get('processes')} process(es), this run uses "
                f"{self.processes} (another per-process batch)"
            )
        if record.get("numerics") != self.numerics:
            return (
                f"it was computed on {record.get('numerics')!r}, this run computes on "
                f"{self.numerics!r}"
            )
        return None


def run_identity(
    recipe: str,
    cfg: Any,
    data_fingerprint: str,
    prompts: str,
    processes: int = 1,
) -> RunIdentity:
    """The identity of training ``recipe`` with the experiment config ``cfg`` on data whose
    :meth:`~facevlm.experiments.experiment_data.ExperimentData.fingerprint` is
    ``data_fingerprint`` with prompts :func:`prompts_fingerprint` ``prompts``, by ``processes``
    processes on this process's numerical path (for ``cfg.execution.device``).

    The config counts without its execution settings, and a local pretrained weight file by its
    tensors, not by its path (a versioned dataset is saved under a new path by every run)."""
    from facevlm.numerics import describe
    from facevlm.trainer.distributed import resolve_device

    config = weights_named_by_content(computed_config(cfg))
    return RunIdentity(
        recipe=recipe,
        computes=digest(recipe, config, data_fingerprint, prompts),
        processes=int(processes),
        numerics=describe(resolve_device(cfg.execution.device)),
    )


def prompts_fingerprint(prompt_bank: pd.DataFrame) -> str:
    """The prompt bank's content, as :func:`run_identity` counts it."""
    bank = pd.util.hash_pandas_object(prompt_bank.astype(str), index=False).to_numpy()
    return digest(bank.tobytes().hex())


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

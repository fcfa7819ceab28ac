"""Training checkpoints that are complete, written atomically, and keyed by the run that made them.

Complete: a checkpoint holds the model, loss parameters, optimiser, schedule, grad scaler, the
random number generator states of every rank (python, numpy, torch, CUDA), the dataset's
changeable state (SMILE-VLM's pseudo-label prompts) and an optional extra state of the caller, so
a run resumed from it is bit-identical on CPU to one that was never stopped.

Atomic: every file is written to a temporary name in the same folder and renamed over its final
name, so a process killed while writing leaves the previous checkpoint, never half of a new one.

Keyed: the loop writes into ``<checkpoint_dir>/run-<key>/`` where ``key`` digests everything that
determines the run (the training config, the caller's ``run_key`` (what the loop cannot see, such
as the numerical path), the training data, the initial weights, the loss modules, the
augmentation and the number of processes). Two folds, or a run with other parameters or other
data, therefore never share a folder, never prune each other's files and never resume from each
other's checkpoints; ``identity.json`` in the folder says in words what the key covers. A caller
whose folder already names the run (``ExecutionConfig.checkpoint_subfolder=False``: the
cross-validation runner's ``fold_<k>/checkpoints``) gets its epochs there directly; the same
identity is checked there, and another run's checkpoints are replaced, never resumed.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import re
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from facevlm.atomic_files import atomic_write
from facevlm.digests import fingerprint_hasher, json_digest

logger = logging.getLogger(__name__)

_EPOCH_FILE = re.compile(r"^epoch_(\d+)\.pt$")


class Stateful(Protocol):
    """What a checkpoint can save and restore besides the model (a dataset, a caller's state)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# ---- files ----------------------------------------------------------------------------------------


def checkpoint_path(directory: str | Path, epochs_done: int) -> Path:
    return Path(directory) / f"epoch_{epochs_done:04d}.pt"


def epoch_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """``(epochs done, path)`` of the epoch checkpoints in ``directory``, by epoch number."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _EPOCH_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The checkpoint with the most epochs done in ``directory`` (by number, not by name)."""
    found = epoch_checkpoints(directory)
    return found[-1][1] if found else None


def save_checkpoint(path: Path, state: dict[str, Any], keep: int) -> None:
    """Write ``state`` atomically; with ``keep > 0`` delete this folder's checkpoints older than
    the newest ``keep`` *up to this one* (a file with more epochs than this one is left alone:
    it cannot be of this run, whose folder is keyed, and deleting the new one would lose it)."""
    with atomic_write(path) as tmp:
        torch.save(state, tmp)
    if keep > 0:
        done = int(_EPOCH_FILE.match(path.name).group(1))
        for epochs, old in epoch_checkpoints(path.parent):
            if epochs <= done - keep:
                old.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint: ``model``, ``losses``, ``optimizer``, ``scheduler``,
    ``scaler``, ``epoch`` (epochs done), ``history``, ``config``, ``identity``, ``rng`` (one
    entry per rank), ``dataset`` and ``extra`` (``None`` when absent)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a readable training checkpoint ({err})") from err


# ---- identity -------------------------------------------------------------------------------------


def digest(*parts: Any) -> str:
    """A short hex digest of JSON-able ``parts`` (sorted keys: the order of a dict is no part)."""
    return json_digest(parts, "blake2b-64", default=_jsonable)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, np.ndarray | torch.Tensor):
        return tensor_digest(torch.as_tensor(value))
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def tensor_digest(*tensors: torch.Tensor) -> str:
    """A digest of tensors' dtypes, shapes and bytes (e.g. the initial weights of a model)."""
    h = fingerprint_hasher()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def state_digest(module: nn.Module) -> str:
    """A digest of a module's state: every parameter and buffer, by name."""
    state = module.state_dict()
    h = fingerprint_hasher()
    for name in sorted(state):
        h.update(name.encode())
        h.update(tensor_digest(state[name]).encode())
    return h.hexdigest()


def module_signature(module: Any) -> Any:
    """The settings of a module that are not tensors (a loss weight, a margin rule, an
    augmentation config), with its class name and, for an ``nn.Module``, its children's."""
    if module is None:
        return None
    simple = (bool, int, float, str, type(None))
    attrs = {}
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or name == "training":
            continue
        if isinstance(value, simple) or (
            isinstance(value, tuple | list) and all(isinstance(v, simple) for v in value)
        ):
            attrs[name] = value
        elif is_dataclass(value) and not isinstance(value, type):
            attrs[name] = asdict(value)
    out: dict[str, Any] = {"class": type(module).__qualname__, "settings": attrs}
    if isinstance(module, nn.Module):
        out["children"] = {n: module_signature(c) for n, c in module.named_children()}
    return out


def run_identity(parts: Mapping[str, Any]) -> dict[str, Any]:
    """``{"key": digest of all parts, "parts": {name: digest}}``: what a checkpoint records."""
    digests = {name: digest(value) for name, value in parts.items()}
    return {"key": digest(digests), "parts": digests}


def differing_parts(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Names of the identity parts that differ between two :func:`run_identity` records."""
    pa, pb = a.get("parts", {}), b.get("parts", {})
    return sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))


#: The file in a run folder that names the run its checkpoints belong to.
IDENTITY_FILE = "identity.json"


def write_identity(folder: Path, identity: dict[str, Any], described: Mapping[str, Any]) -> None:
    """``identity.json`` in a run folder: the key, its parts' digests and their readable form."""
    path = folder / IDENTITY_FILE
    if path.exists():
        return
    text = json.dumps({**identity, "described": described}, indent=2, default=_jsonable)
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def read_identity(folder: Path) -> dict[str, Any]:
    """What :func:`write_identity` recorded in ``folder`` (empty when it holds none)."""
    path = folder / IDENTITY_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


# ---- random number generators ---------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """This process's generator states (python, numpy, torch CPU, every CUDA device)."""
    # the legacy global generator is what third-party code (scikit-learn, k-means) may draw from
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            n["kind"],
            n["keys"].cpu().numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())  # a checkpoint loaded onto a GPU holds it there
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        else:
            logger.warning(
                "checkpoint has %d CUDA generator states, this machine %d GPUs: "
                "CUDA generators not restored",
                len(state["cuda"]),
                torch.cuda.device_count(),
            )

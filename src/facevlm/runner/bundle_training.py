"""Train one model from a training bundle, fold by fold, on one process or under torchrun.

Every process runs :func:`train_from_bundle` (torchrun starts them; :func:`setup_distributed`
joins them into one DDP group). Each fold is the model's own cross-validation step
(:func:`facevlm.experiments.cross_validation.train_fold` with the model's recipe, on the
bundle's data), so a fold trained here gives what the in-process loop gives. Rank 0 writes::

    <out>/
        fold_<k>/checkpoints/epoch_NNNN.pt   the fold's epoch checkpoints (and identity.json)
        fold_<k>/result.pkl                  the fold's FoldResult and what it was made with
        fold_<k>/model.pt                    the fold's trained ModelBundle (as the catalog saves it)
        result.pkl                           the CrossValidationResult of the folds asked for

The folder names nothing beyond the fold: the run folder above it (:mod:`facevlm.runner.run`)
is named by what the run computes, and ``--out`` a user names is theirs. So a fold's result
records the run's identity (:func:`facevlm.runner.identity.run_identity`: the bundle and config,
the number of processes, the numerical path) and is reused only by a run of the same identity;
one that cannot reuse it says why in one log line. An interrupted fold continues from its last
epoch checkpoint, whose ``run_key`` is the same identity; the trainer writes into the fold's
folder directly and replaces, never resumes, another run's checkpoints found there. The final
fit on every subject trains the same way into a folder of its own (:func:`train_final_fit`).
Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import copy
import json
import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from facevlm.atomic_files import atomic_write
from facevlm.config import to_dict
from facevlm.experiments.cross_validation import selected_folds, train_fold
from facevlm.experiments.recipes import get_recipe
from facevlm.experiments.results import CrossValidationResult, FoldResult
from facevlm.models.model_bundle import ModelBundle
from facevlm.runner.identity import RunIdentity
from facevlm.runner.training_bundle import TrainingBundle, load_training_bundle
from facevlm.trainer.distributed import is_distributed, rank, setup_distributed

logger = logging.getLogger(__name__)

RESULT_FILE = "result.pkl"
#: What the final fit's epochs were computed as (RunIdentity.record), beside them.
MADE_WITH_FILE = "made_with.json"


@dataclass
class TrainingResult:
    """What a bundle training run produced: the cross-validation result and the last fold's
    trained model (what the Kedro pipeline saves as ``<model>.model``)."""

    result: CrossValidationResult
    model: ModelBundle
    out_dir: Path
    bundle_digest: str | None = None  # the content digest of the bundle it was trained from


def set_option(config: dict[str, Any], dotted: str, value: Any) -> None:
    """``config["train"]["epochs"] = value`` for ``dotted="train.epochs"`` (creating levels)."""
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"cannot set {dotted!r}: {key!r} is not a section")
    node[last] = value


def train_from_bundle(
    bundle_dir: str | Path,
    out_dir: str | Path,
    folds: Sequence[int] | None = None,
    overrides: dict[str, Any] | None = None,
    resume: bool = True,
    checkpoint_dir: str | Path | None = None,
) -> TrainingResult | None:
    """Train the bundle's model on ``folds`` (``None``: the config's folds) and write the results.

    Args:
        bundle_dir: a folder written by :func:`write_training_bundle`.
        out_dir: where the folds' checkpoints, results and models go (shared by all
            machines).
        folds: fold numbers to train; ``None``: every fold (``data.max_folds`` applies).
        overrides: ``{"train.epochs": 1, "execution.device": "cpu", ...}``: dotted experiment
            parameters to replace.
        resume: reuse finished folds and continue from epoch checkpoints (``False``: start over;
            existing files of the same runs are overwritten).
        checkpoint_dir: epoch checkpoints elsewhere: ``<checkpoint_dir>/fold_<k>/`` (default
            ``<out_dir>/fold_<k>/checkpoints``).

    Returns:
        The :class:`TrainingResult` on rank 0, ``None`` on the other ranks.
    """
    out = Path(out_dir)
    bundle, cfg, folds = bundle_to_train(bundle_dir, overrides, resume, folds)
    results = _train_folds(bundle, cfg, folds, out, resume, checkpoint_dir)
    result = CrossValidationResult(
        bundle.model, bundle.data.classes, results, to_dict(cfg), bundle.tags
    )
    if rank() != 0:
        _barrier()
        return None
    model_file = _model_file(out, folds[-1])
    _write_pickle(
        {"result": result, "model_file": str(model_file.relative_to(out)), "bundle": bundle.digest},
        out / RESULT_FILE,
    )
    _barrier()
    return TrainingResult(result, _load_model_bundle(model_file), out, bundle.digest)


def train_folds(
    bundle_dir: str | Path,
    out_dir: str | Path,
    folds: Sequence[int],
    overrides: dict[str, Any] | None = None,
) -> None:
    """Train ``folds`` of the bundle into ``out_dir`` (each fold's result and model; a finished
    fold is kept) without writing the run's result: what one of several processes that share
    a run's folds does (:mod:`facevlm.runner.side_by_side`). The :func:`train_from_bundle` that
    follows finds the folds finished and writes the result."""
    bundle, cfg, folds = bundle_to_train(bundle_dir, overrides, True, folds)
    _train_folds(bundle, cfg, folds, Path(out_dir), True, None)


def bundle_to_train(
    bundle_dir: str | Path,
    overrides: dict[str, Any] | None,
    resume: bool,
    folds: Sequence[int] | None,
) -> tuple[TrainingBundle, Any, list[int]]:
    """The bundle with ``overrides`` applied, its experiment config, and the folds to train
    (``None``: the config's), checked against the bundle's."""
    bundle = load_training_bundle(bundle_dir)
    config = copy.deepcopy(bundle.config)
    for dotted, value in (overrides or {}).items():
        set_option(config, dotted, value)
    bundle.config = config
    cfg = bundle.experiment_config()
    setup_distributed(cfg.execution.device)  # NCCL for CUDA training, gloo for CPU training
    cfg.execution.resume = "latest" if resume else None
    available = bundle.data.folds
    folds = list(selected_folds(bundle.data, cfg) if folds is None else folds)
    unknown = sorted(set(folds) - set(available))
    if unknown:
        raise ValueError(f"{bundle.folder}: no fold(s) {unknown}; the bundle has {available}")
    return bundle, cfg, folds


def _train_folds(
    bundle: TrainingBundle,
    cfg: Any,
    folds: Sequence[int],
    out: Path,
    resume: bool,
    checkpoint_dir: str | Path | None,
) -> list[FoldResult]:
    """Each fold's result: read back when it finished earlier (and ``resume``), else trained."""
    identity = _identity(bundle, cfg)
    finished = _finished_folds(bundle.model, out, folds, identity) if resume else {}
    checkpoints = Path(checkpoint_dir) if checkpoint_dir else None
    results: list[FoldResult] = []
    for fold in folds:
        if fold in finished:
            logger.info("%s fold %d: finished earlier, result reused", bundle.model, fold)
            results.append(finished[fold])
            continue
        fold_checkpoints = (
            checkpoints / f"fold_{fold}" if checkpoints else _fold_dir(out, fold) / "checkpoints"
        )
        results.append(_train_fold(bundle, cfg, fold, identity, out, fold_checkpoints))
    return results


def train_final_fit(
    bundle_dir: str | Path, final_dir: str | Path, overrides: dict[str, Any] | None = None
) -> tuple[Any, TrainingBundle, Any]:
    """Train the bundle's model on every sample (the final fit), its epoch checkpoints in
    ``final_dir/checkpoints``, continuing from the last one there when it is this run's.

    Returns the recipe's fitted model, the bundle and the config it trained with (what the
    final-fit node finishes it with: a probe, familiarity statistics)."""
    bundle, cfg, _ = bundle_to_train(bundle_dir, overrides, True, [])
    identity = _identity(bundle, cfg)
    final = Path(final_dir)
    reason = _final_fit_not_reused(final, identity)
    if reason:
        logger.info("%s final fit: its earlier epochs are not reused: %s", bundle.model, reason)
    if rank() == 0:
        with atomic_write(final / MADE_WITH_FILE) as tmp:
            tmp.write_text(json.dumps(identity.record(), indent=2))
    cfg.execution.checkpoint_dir = str(final_fit_checkpoints(final))
    cfg.execution.checkpoint_subfolder = False  # the run folder names it already
    cfg.execution.resume = "latest"
    cfg.train.run_key = identity.key
    every_sample = np.arange(len(bundle.data.labels))
    logger.info(
        "%s final fit: %d samples, training into %s",
        bundle.model,
        len(every_sample),
        cfg.execution.checkpoint_dir,
    )
    fitted = get_recipe(bundle.model).fit(bundle.data, every_sample, bundle.prompt_bank, cfg, None)
    return fitted, bundle, cfg


def final_fit_is_finished(final_dir: str | Path, identity: RunIdentity, epochs: int) -> bool:
    """Whether the final fit in ``final_dir`` saved its last epoch as this run would train it."""
    from facevlm.models.checkpoints import checkpoint_path

    final = Path(final_dir)
    done = checkpoint_path(final_fit_checkpoints(final), epochs).exists()
    return done and _final_fit_not_reused(final, identity) is None


def _final_fit_not_reused(final: Path, identity: RunIdentity) -> str | None:
    """Why the final fit's epochs in ``final`` are not this run's (``None``: they are, or there
    are none)."""
    path = final / MADE_WITH_FILE
    if not path.is_file() or not any(final_fit_checkpoints(final).glob("epoch_*.pt")):
        return None
    return identity.why_not_reused(json.loads(path.read_text()))


def final_fit_checkpoints(final_dir: Path) -> Path:
    """The final fit's epoch checkpoints in its folder of a training-run folder."""
    return final_dir / "checkpoints"


def load_training_result(out_dir: str | Path) -> TrainingResult:
    """Read what :func:`train_from_bundle` wrote to ``out_dir``."""
    out = Path(out_dir)
    path = out / RESULT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no training result (the run did not finish)")
    with path.open("rb") as f:
        payload = pickle.load(f)
    model = _load_model_bundle(out / payload["model_file"])
    return TrainingResult(payload["result"], model, out, payload.get("bundle"))


# ---- one fold -------------------------------------------------------------------------------------


def _train_fold(
    bundle: TrainingBundle,
    cfg: Any,
    fold: int,
    identity: RunIdentity,
    out: Path,
    checkpoints: Path,
) -> FoldResult:
    from facevlm.prompts.augmented import class_prompts

    fold_cfg = copy.deepcopy(cfg)
    # the fold's folder is the run's own: the trainer writes its epochs straight into it
    fold_cfg.execution.checkpoint_dir = str(checkpoints)
    fold_cfg.execution.checkpoint_subfolder = False
    # what the trainer cannot see for itself, so a checkpoint of another bundle or another
    # numerical path counts as another run's
    fold_cfg.train.run_key = identity.key
    logger.info("%s fold %d: training into %s", bundle.model, fold, checkpoints)
    fold_result, fitted = train_fold(
        get_recipe(bundle.model), bundle.data, fold, bundle.prompt_bank, fold_cfg
    )
    if rank() == 0:
        model = ModelBundle.from_model(
            bundle.model,
            fitted.model,
            to_dict(cfg.model),
            bundle.data.classes,
            class_prompts(bundle.prompt_bank),
            tags=bundle.tags,
            fold=fold,
        )
        with atomic_write(_model_file(out, fold)) as tmp:
            torch.save(model.__dict__, tmp)
        path = fold_result_file(out, fold)
        _write_pickle({"made_with": identity.record(), "fold_result": fold_result}, path)
    return fold_result


def _identity(bundle: TrainingBundle, cfg: Any) -> RunIdentity:
    """This run's identity: the bundle trained with ``cfg`` (overrides of ``python -m
    facevlm.train`` change it) by this run's processes, on this process's numerical path."""
    return bundle.identity(cfg, dist.get_world_size() if is_distributed() else 1)


def fold_is_finished(out: Path, fold: int, identity: RunIdentity) -> bool:
    """Whether fold ``fold`` in ``out`` finished as this run (``identity``) would make it."""
    return _finished_fold(out, fold, identity)[0] is not None


def _finished_fold(
    out: Path, fold: int, identity: RunIdentity
) -> tuple[FoldResult | None, str | None]:
    """The fold's result when it finished as this run would make it; else ``None`` and why an
    earlier result is not reused (``None`` when there is none)."""
    path = fold_result_file(out, fold)
    if not (path.exists() and _model_file(out, fold).exists()):
        return None, None
    with path.open("rb") as f:
        payload = pickle.load(f)
    reason = identity.why_not_reused(payload.get("made_with") or {})
    return (None, reason) if reason else (payload["fold_result"], None)


def _finished_folds(
    model: str, out: Path, folds: Sequence[int], identity: RunIdentity
) -> dict[int, FoldResult]:
    """Folds whose result and model exist and were made as this run would make them (rank 0
    decides)."""
    finished: dict[int, FoldResult] = {}
    if rank() == 0:
        for fold in folds:
            result, reason = _finished_fold(out, fold, identity)
            if reason:
                logger.info("%s fold %d: its earlier result is not reused: %s", model, fold, reason)
            if result is not None:
                finished[fold] = result
    if is_distributed():
        box = [finished]
        dist.broadcast_object_list(box, src=0)
        finished = box[0]
    return finished


def _fold_dir(out: Path, fold: int) -> Path:
    return out / f"fold_{fold}"


def fold_result_file(out: Path, fold: int) -> Path:
    """Where a fold's result lies in a training output folder: it exists once the fold finished."""
    return _fold_dir(out, fold) / RESULT_FILE


def _model_file(out: Path, fold: int) -> Path:
    return _fold_dir(out, fold) / "model.pt"


def _load_model_bundle(path: Path) -> ModelBundle:
    return ModelBundle(**torch.load(path, map_location="cpu", weights_only=False))


def _write_pickle(obj: Any, path: Path) -> None:
    with atomic_write(path) as tmp, tmp.open("wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def _barrier() -> None:
    if is_distributed():
        dist.barrier()


def describe(result: TrainingResult) -> str:
    """One line per metric of a result, for logs and the command line."""
    metrics = result.result.final_metrics()
    return json.dumps({k: round(v, 4) for k, v in sorted(metrics.items())}, indent=1)

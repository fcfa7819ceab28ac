"""Train one model from a training bundle, fold by fold, on one process or under torchrun.

Every process runs :func:`train_from_bundle` (torchrun starts them; :func:`setup_distributed`
joins them into one DDP group). Each fold is the model's own cross-validation step
(:func:`facevlm.experiments.cross_validation.cross_validate` with the model's recipe, on the
bundle's data restricted to that fold), so a fold trained here gives what the Kedro pipeline's loop gives. Rank 0 writes::

    <out>/
        checkpoints/run-<key>/epoch_NNNN.pt   epoch checkpoints, one keyed folder per fold
        folds/fold_<f>.result.pkl             the fold's FoldResult and the key it was made under
        folds/fold_<f>.model.pt               the fold's trained ModelBundle (as the catalog saves it)
        result.pkl                            the CrossValidationResult of the folds asked for

A fold whose result file carries the current key (same bundle, same config, same number of
processes) is not trained again; an interrupted fold continues from its last epoch checkpoint.
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

import torch
import torch.distributed as dist

from facevlm.atomic_files import atomic_write
from facevlm.config import to_dict
from facevlm.experiments.common import computed_config
from facevlm.experiments.cross_validation import cross_validate, selected_folds
from facevlm.experiments.recipes import get_recipe
from facevlm.experiments.results import CrossValidationResult, FoldResult
from facevlm.models.checkpoints import digest
from facevlm.models.model_bundle import ModelBundle
from facevlm.runner.training_bundle import (
    TrainingBundle,
    load_training_bundle,
    weights_named_by_content,
)
from facevlm.trainer.distributed import is_distributed, rank, setup_distributed

logger = logging.getLogger(__name__)

RESULT_FILE = "result.pkl"


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
        out_dir: where checkpoints, fold results and models go (shared by all machines).
        folds: fold numbers to train; ``None``: every fold (``data.max_folds`` applies).
        overrides: ``{"train.epochs": 1, "execution.device": "cpu", ...}``: dotted experiment
            parameters to replace.
        resume: reuse finished folds and continue from epoch checkpoints (``False``: start over;
            existing files of the same runs are overwritten).
        checkpoint_dir: epoch checkpoints (default ``<out_dir>/checkpoints``).

    Returns:
        The :class:`TrainingResult` on rank 0, ``None`` on the other ranks.
    """
    bundle = load_training_bundle(bundle_dir)
    out = Path(out_dir)
    config = copy.deepcopy(bundle.config)
    for dotted, value in (overrides or {}).items():
        set_option(config, dotted, value)
    bundle.config = config
    cfg = bundle.experiment_config()
    setup_distributed(cfg.execution.device)  # NCCL for CUDA training, gloo for CPU training
    cfg.execution.checkpoint_dir = str(checkpoint_dir or out / "checkpoints")
    cfg.execution.resume = "latest" if resume else None
    available = bundle.data.folds
    if folds is None:
        folds = selected_folds(bundle.data, cfg)
    unknown = sorted(set(folds) - set(available))
    if unknown:
        raise ValueError(f"{bundle.folder}: no fold(s) {unknown}; the bundle has {available}")

    fold_dir = out / "folds"
    keys = {f: _fold_key(bundle, cfg, f) for f in folds}
    finished = _finished_folds(fold_dir, keys) if resume else {}
    results: list[FoldResult] = []
    for fold in folds:
        if fold in finished:
            logger.info("%s fold %d: finished earlier, result reused", bundle.model, fold)
            results.append(finished[fold])
            continue
        results.append(_train_fold(bundle, cfg, fold, keys[fold], fold_dir))
    result = CrossValidationResult(
        bundle.model, bundle.data.classes, results, to_dict(cfg), bundle.tags
    )
    if rank() != 0:
        _barrier()
        return None
    model_file = _model_file(fold_dir, folds[-1])
    _write_pickle(
        {"result": result, "model_file": model_file.name, "bundle": bundle.digest},
        out / RESULT_FILE,
    )
    _barrier()
    return TrainingResult(result, _load_model_bundle(model_file), out, bundle.digest)


def load_training_result(out_dir: str | Path) -> TrainingResult:
    """Read what :func:`train_from_bundle` wrote to ``out_dir``."""
    out = Path(out_dir)
    path = out / RESULT_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no training result (the run did not finish)")
    with path.open("rb") as f:
        payload = pickle.load(f)
    model = _load_model_bundle(out / "folds" / payload["model_file"])
    return TrainingResult(payload["result"], model, out, payload.get("bundle"))


# ---- one fold -------------------------------------------------------------------------------------


def _train_fold(
    bundle: TrainingBundle, cfg: Any, fold: int, key: str, fold_dir: Path
) -> FoldResult:
    from facevlm.prompts.augmented import class_prompts

    fold_cfg = copy.deepcopy(cfg)
    fold_cfg.train.run_key = key  # the fold's checkpoints live in their own keyed folder
    fold_cfg.data.max_folds = None
    logger.info("%s fold %d: training (key %s)", bundle.model, fold, key)
    cv, fitted = cross_validate(
        get_recipe(bundle.model),
        bundle.data.only_fold(fold),
        bundle.prompt_bank,
        fold_cfg,
        bundle.tags,
    )
    (fold_result,) = cv.folds
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
        with atomic_write(_model_file(fold_dir, fold)) as tmp:
            torch.save(model.__dict__, tmp)
        _write_pickle({"key": key, "fold_result": fold_result}, _result_file(fold_dir, fold))
    return fold_result


def _fold_key(bundle: TrainingBundle, cfg: Any, fold: int) -> str:
    """What a fold's result depends on: the bundle's content, the config (without its
    execution settings; the pretrained weights named by their tensors, wherever the bundle
    lies), the fold, the number of processes (the per-process batch) and the numerical path
    (code path and threads: another one computes other bits, so a fold finished on it is not
    this fold's result, :mod:`facevlm.numerics`)."""
    from facevlm.numerics import describe

    config = weights_named_by_content(computed_config(cfg))
    config["train"].pop("run_key", None)  # the key this makes becomes the fold's run_key
    world = dist.get_world_size() if is_distributed() else 1
    return digest(bundle.digest, config, fold, world, describe())


def _finished_folds(fold_dir: Path, keys: dict[int, str]) -> dict[int, FoldResult]:
    """Folds whose result file and model file exist under the current key (rank 0 decides)."""
    finished: dict[int, FoldResult] = {}
    if rank() == 0:
        for fold, key in keys.items():
            path = _result_file(fold_dir, fold)
            if not (path.exists() and _model_file(fold_dir, fold).exists()):
                continue
            with path.open("rb") as f:
                payload = pickle.load(f)
            if payload.get("key") == key:
                finished[fold] = payload["fold_result"]
    if is_distributed():
        box = [finished]
        dist.broadcast_object_list(box, src=0)
        finished = box[0]
    return finished


def _result_file(fold_dir: Path, fold: int) -> Path:
    return fold_dir / f"fold_{fold}.result.pkl"


def _model_file(fold_dir: Path, fold: int) -> Path:
    return fold_dir / f"fold_{fold}.model.pt"


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

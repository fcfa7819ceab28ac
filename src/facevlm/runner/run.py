"""The hand-off from a pipeline to training: a run folder named by the run's identity, and the
one function that trains a run's jobs.

:func:`run_cross_validation` is what the cross-validation node calls, :func:`run_final_fit`
what the final-fit node calls. Both find the run's folder, named by what the run computes
(:func:`facevlm.runner.identity.run_identity`: the recipe, the config without its execution
settings, the data, the prompts, the pretrained weights' tensors), and have :func:`train_jobs`
train what they ask for: the folds, or the final fit on every subject. ``train_jobs`` is the
one place that decides how a list of jobs trains: by ``execution.nproc`` torchrun workers
(folds), on CPU side by side in single-thread processes when ``execution.cpu_processes`` and
the jobs leave more than one core's work (:mod:`facevlm.runner.side_by_side`), or one after
another in this process. Or not at all, when a result trained elsewhere (a cluster) is named::

    <runs_dir>/<recipe>-<key16>/
        bundle/                               the training bundle
        training/fold_<k>/checkpoints/        a fold's epoch checkpoints
        training/fold_<k>/result.pkl|model.pt a fold's result and trained model
        training/result.pkl                   the cross-validation result
        final/checkpoints/, made_with.json    the final fit's epoch checkpoints, and as what

The fold loop, the fold results a second run reuses and the epoch checkpoints an interrupted
job resumes from are :mod:`facevlm.runner.bundle_training`'s, whichever way it runs.

Nothing here imports Kedro.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from facevlm.config import to_dict
from facevlm.experiments.cross_validation import selected_folds
from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.recipes import recipe_entry
from facevlm.runner.bundle_training import (
    RESULT_FILE,
    TrainingResult,
    bundle_to_train,
    final_fit_is_finished,
    fold_is_finished,
    load_training_result,
    train_final_fit,
    train_folds,
    train_from_bundle,
)
from facevlm.runner.identity import prompts_fingerprint, run_identity
from facevlm.runner.side_by_side import FINAL_FIT
from facevlm.runner.training_bundle import (
    is_training_bundle,
    load_training_bundle,
    write_training_bundle,
)

logger = logging.getLogger(__name__)

#: The final fit's folder in a training-run folder.
FINAL_FIT_FOLDER = "final"
#: A job of :func:`train_jobs`: a fold number, or :data:`FINAL_FIT`.
Job = int | str


def training_run_folder(
    runs_dir: str | Path, recipe: str, cfg: Any, data: ExperimentData, prompt_bank: pd.DataFrame
) -> Path:
    """Where one run keeps its training bundle, epoch checkpoints and per-fold results
    (:mod:`facevlm.runner.run` shows the layout): named by what the run computes
    (:attr:`~facevlm.runner.identity.RunIdentity.computes`) and nothing else. A run with other
    parameters or other data gets another folder, so it never resumes from these files; the
    same run started again, after any number of other runs, on any device or thread count,
    finds its folder (and there says what of it it cannot reuse)."""
    identity = run_identity(recipe, cfg, data.fingerprint(), prompts_fingerprint(prompt_bank))
    return Path(runs_dir) / identity.folder_name


def training_run(
    runs_dir: str | Path,
    recipe: str,
    cfg: Any,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    tags: dict[str, str],
    say_resumed: bool = True,
) -> Path:
    """The run's folder, with its training bundle written there unless it is there already."""
    folder = training_run_folder(runs_dir, recipe, cfg, data, prompt_bank)
    bundle_dir = folder / "bundle"
    if not is_training_bundle(bundle_dir):
        write_training_bundle(bundle_dir, recipe, data, prompt_bank, to_dict(cfg), tags)
    elif say_resumed:
        logger.info("%s: resuming the training run in %s", recipe_entry(recipe).title, folder)
    return folder


def execution_overrides(cfg: Any) -> dict[str, Any]:
    """How this run executes (device, processes, progress...), as overrides of the bundle's
    config: a run resumed on another machine or with another device trains as it is told, not
    as the one that wrote the bundle did."""
    return {f"execution.{k}": v for k, v in to_dict(cfg.execution).items()}


def run_cross_validation(
    recipe: str,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    cfg: Any,
    tags: dict[str, str],
    runs_dir: str | Path,
    trained_elsewhere: str | Path | None = None,
) -> TrainingResult:
    """Cross-validate ``recipe`` on ``data``: its result and the last fold's model.

    The run's training bundle goes into its folder under ``runs_dir`` (``bundle/``; its folds
    beside it in ``training/``), its folds are trained by :func:`train_jobs`, or taken from
    ``trained_elsewhere`` (the output folder of ``python -m facevlm.train`` run on this bundle
    elsewhere). A run killed and started again with the same parameters and data reuses the
    folds that finished and continues the interrupted one from its last epoch checkpoint.
    """
    folder = training_run(runs_dir, recipe, cfg, data, prompt_bank, tags)
    folds = selected_folds(data, cfg)
    if trained_elsewhere:
        return result_trained_elsewhere(Path(trained_elsewhere), folder / "bundle", folds)
    train_jobs(folder, folds, cfg)
    if int(cfg.execution.nproc or 1) > 1:  # the workers wrote the run's result
        return load_training_result(folder / "training")
    # the folds are finished: read back, and the run's result written beside them
    return train_from_bundle(
        folder / "bundle", folder / "training", folds, execution_overrides(cfg)
    )


def run_final_fit(
    runs_dir: str | Path,
    recipe: str,
    cfg: Any,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    tags: dict[str, str],
) -> tuple[Any, ExperimentData]:
    """Train ``recipe`` on every sample of ``data`` (the final fit) in its run folder
    (``final/``, by :func:`train_jobs`): a run killed during it continues from its last epoch
    checkpoint. Returns the fitted model and the data it trained on: the run's training
    bundle's (the same samples and views as ``data``, read as the folds read them)."""
    # the cross-validation wrote the bundle: finding it is no resumption
    folder = training_run(runs_dir, recipe, cfg, data, prompt_bank, tags, say_resumed=False)
    fitted, bundle, _ = train_jobs(folder, [FINAL_FIT], cfg)[FINAL_FIT]
    return fitted, bundle.data


def train_jobs(folder: Path, jobs: Sequence[Job], cfg: Any) -> dict[Job, Any]:
    """Train ``jobs`` (fold numbers and :data:`FINAL_FIT`) of the run in ``folder`` as
    ``cfg.execution`` says; a job that finished as this run would train it is not trained again.

    - ``execution.nproc`` > 1: the folds by that many torchrun workers, which write the run's
      result too (the final fit trains in this process);
    - on CPU, ``execution.cpu_processes`` and more than one job left: side by side, one
      single-thread process per core (:mod:`facevlm.runner.side_by_side`);
    - else one after another in this process.

    Returns the final fit's ``(fitted model, bundle, config)`` under :data:`FINAL_FIT` when it
    is asked for (trained here, or read back from its last epoch checkpoint): the folds' results
    are on disk for :func:`~facevlm.runner.bundle_training.train_from_bundle` to read."""
    import torch

    from facevlm.runner.launch import launch
    from facevlm.runner.side_by_side import side_by_side_processes, train_side_by_side
    from facevlm.trainer.distributed import resolve_device

    bundle_dir, out_dir = folder / "bundle", folder / "training"
    final_dir = folder / FINAL_FIT_FOLDER
    execution = execution_overrides(cfg)
    # the bundle's config, as the jobs train with it, is what their identity is checked by
    bundle, bundle_cfg, _ = bundle_to_train(bundle_dir, execution, True, [])
    title = recipe_entry(bundle.model).title
    folds = [int(job) for job in jobs if job != FINAL_FIT]
    final_fit = FINAL_FIT in jobs
    nproc = int(cfg.execution.nproc or 1)
    if nproc > 1 and folds:
        launch(bundle_dir, nproc, out_dir=out_dir, folds=folds, overrides=execution)
        folds = []
    identity = bundle.identity(bundle_cfg)
    todo: list[Job] = [f for f in folds if not fold_is_finished(out_dir, f, identity)]
    if final_fit and not final_fit_is_finished(final_dir, identity, cfg.train.epochs):
        todo.append(FINAL_FIT)
    threads = torch.get_num_threads()
    on_cpu = resolve_device(cfg.execution.device).type == "cpu"
    todo_folds = [int(job) for job in todo if job != FINAL_FIT]
    processes = side_by_side_processes(cfg.execution.cpu_processes, len(todo), threads)
    if on_cpu and processes > 1:
        final_fit_dir = final_dir if FINAL_FIT in todo else None
        train_side_by_side(
            bundle_dir, out_dir, todo_folds, final_fit_dir, processes, threads, execution, title
        )
    elif todo_folds:
        train_folds(bundle_dir, out_dir, todo_folds, execution)
    if not final_fit:
        return {}
    # trained here, or read back: its last epoch is saved, so the trainer only restores it
    return {FINAL_FIT: train_final_fit(bundle_dir, final_dir, execution)}


def result_trained_elsewhere(
    out_dir: Path, bundle_dir: Path, expected_folds: list[int]
) -> TrainingResult:
    """The result ``python -m facevlm.train`` wrote to ``out_dir`` (on a cluster, say) from the
    bundle this pipeline wrote to ``bundle_dir``: the pipeline evaluates and logs it as if it had
    trained it. Refused when it came from another bundle (other data or parameters) or lacks a
    fold; when it does not exist yet, the error says what to run."""
    folds = " ".join(f"--fold {f}" for f in expected_folds)
    if not (out_dir / RESULT_FILE).is_file():
        raise FileNotFoundError(
            f"{out_dir / RESULT_FILE}: no training result yet (training_result is set). Train "
            f"the bundle this run wrote, then run the same command again: torchrun "
            f"--nproc-per-node=N -m facevlm.train {bundle_dir} --out {out_dir} {folds}"
        )
    trained = load_training_result(out_dir)
    bundle_digest = load_training_bundle(bundle_dir).digest
    if trained.bundle_digest != bundle_digest:
        raise ValueError(
            f"{out_dir}: trained from another training bundle ({trained.bundle_digest}), not "
            f"{bundle_dir} ({bundle_digest}): other data or parameters. Train {bundle_dir} instead."
        )
    have = [f.fold for f in trained.result.folds]
    missing = sorted(set(expected_folds) - set(have))
    if missing:
        raise ValueError(f"{out_dir}: the result lacks fold(s) {missing} (has {have}): {folds}")
    logger.info("training result taken from %s (folds %s)", out_dir, have)
    return trained

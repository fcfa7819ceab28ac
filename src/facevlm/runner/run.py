"""The one hand-off from a pipeline to training: a keyed run folder, then one of three ways to train.

:func:`run_cross_validation` is all a training node calls. It keeps every run in a folder keyed
by what the run computes (the recipe, the config without its execution settings, the data, the
prompts, the pretrained weights' tensors; :func:`training_run_folder`), writes the training
bundle there once, and trains it the way the config asks: in this process (on CPU, with its
folds and final fit in processes side by side, ``execution.cpu_processes``), by
``execution.nproc`` torchrun workers on this machine, or not at all when a result trained
elsewhere (a cluster) is named. The run folder is the one key; nothing below it is named
again::

    <runs_dir>/<recipe>-<key16>/
        bundle/                               the training bundle
        training/fold_<k>/checkpoints/        a fold's epoch checkpoints
        training/fold_<k>/result.pkl|model.pt a fold's result and trained model
        training/result.pkl                   the cross-validation result
        final/checkpoints/                    the final fit's epoch checkpoints

The fold loop, the fold results a second run reuses and the epoch checkpoints an interrupted
fold resumes from are :func:`~facevlm.runner.bundle_training.train_from_bundle`'s, whichever
way it runs. The final fit on every subject checkpoints into the same folder
(:func:`checkpoint_final_fit`).

Nothing here imports Kedro.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from facevlm.config import to_dict
from facevlm.experiments.common import computed_config
from facevlm.experiments.cross_validation import selected_folds
from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.recipes import recipe_entry
from facevlm.models.checkpoints import digest
from facevlm.runner.bundle_training import (
    RESULT_FILE,
    TrainingResult,
    fold_result_file,
    load_training_result,
    train_from_bundle,
)
from facevlm.runner.training_bundle import (
    is_training_bundle,
    load_training_bundle,
    weights_named_by_content,
    write_training_bundle,
)

logger = logging.getLogger(__name__)

#: The final fit's folder in a training-run folder.
FINAL_FIT_FOLDER = "final"


def training_run_folder(
    runs_dir: str | Path, recipe: str, cfg: Any, data: ExperimentData, prompt_bank: pd.DataFrame
) -> Path:
    """Where one cross-validation run keeps its training bundle, epoch checkpoints and per-fold
    results (:mod:`facevlm.runner.run` shows the layout): a folder keyed by everything that
    determines them (recipe, config without its execution settings, data, prompts) and
    nothing else. A run with other parameters or other data gets another folder, so it never
    resumes from these files; the same run started again, after any number of other runs,
    finds its folder. So the pretrained weights count by their tensors, not by the path of the
    versioned file that holds them this time."""
    bank = pd.util.hash_pandas_object(prompt_bank.astype(str), index=False).to_numpy()
    config = weights_named_by_content(computed_config(cfg))
    key = digest(recipe, config, data.fingerprint(), bank.tobytes().hex())
    return Path(runs_dir) / f"{recipe}-{key[:16]}"


def run_cross_validation(
    recipe: str,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    cfg: Any,
    tags: dict[str, str],
    runs_dir: str | Path,
    trained_elsewhere: str | Path | None = None,
    final_fit: bool = False,
) -> TrainingResult:
    """Cross-validate ``recipe`` on ``data``: its result and the last fold's model.

    The run's training bundle goes into its keyed folder under ``runs_dir`` (``bundle/``; its
    training output beside it in ``training/``) and is trained in this process, or by
    ``cfg.execution.nproc`` torchrun workers, or taken from ``trained_elsewhere`` (the output folder
    of ``python -m facevlm.train`` run on this bundle elsewhere). On CPU, with
    ``cfg.execution.cpu_processes``, the folds are trained by processes side by side
    (:mod:`facevlm.runner.side_by_side`), and with ``final_fit`` the final fit on every subject
    too, into the folder :func:`checkpoint_final_fit` resumes it from. A run killed and started
    again with the same parameters and data reuses the folds that finished and continues the
    interrupted one from its last epoch checkpoint.
    """
    from facevlm.runner.launch import launch

    title = recipe_entry(recipe).title
    folder = training_run_folder(runs_dir, recipe, cfg, data, prompt_bank)
    bundle_dir, out_dir = folder / "bundle", folder / "training"
    if not is_training_bundle(bundle_dir):
        write_training_bundle(bundle_dir, recipe, data, prompt_bank, to_dict(cfg), tags)
    else:
        logger.info("%s: resuming the training run in %s", title, folder)
    if trained_elsewhere:
        return result_trained_elsewhere(
            Path(trained_elsewhere), bundle_dir, selected_folds(data, cfg)
        )
    # how this run executes (device, processes, progress...), not how the one that wrote the
    # bundle did: a run resumed on another machine or with another device trains as it is told
    execution = {f"execution.{k}": v for k, v in to_dict(cfg.execution).items()}
    nproc = int(cfg.execution.nproc or 1)
    if nproc > 1:
        return launch(bundle_dir, nproc, out_dir=out_dir, overrides=execution)
    final_fit_dir = folder / FINAL_FIT_FOLDER if final_fit else None
    folds = selected_folds(data, cfg)
    _train_side_by_side_on_cpu(bundle_dir, out_dir, folds, final_fit_dir, cfg, execution, title)
    return train_from_bundle(bundle_dir, out_dir, overrides=execution)


def _train_side_by_side_on_cpu(
    bundle_dir: Path,
    out_dir: Path,
    folds: list[int],
    final_fit_dir: Path | None,
    cfg: Any,
    execution: dict[str, Any],
    title: str,
) -> None:
    """Train the run's unfinished folds (and the final fit, unless its last epoch is saved)
    by processes side by side, when ``execution.cpu_processes`` asks for more than one and the
    training runs on the CPU; the :func:`train_from_bundle` after it then reads them back."""
    import torch

    from facevlm.models.checkpoints import checkpoint_path
    from facevlm.runner.side_by_side import side_by_side_processes, train_side_by_side
    from facevlm.trainer.distributed import resolve_device

    if resolve_device(cfg.execution.device).type != "cpu":
        return
    folds = [f for f in folds if not fold_result_file(out_dir, f).exists()]
    if (
        final_fit_dir is not None
        and checkpoint_path(final_fit_checkpoints(final_fit_dir), cfg.train.epochs).exists()
    ):
        final_fit_dir = None
    jobs = len(folds) + (final_fit_dir is not None)
    threads = torch.get_num_threads()
    processes = side_by_side_processes(cfg.execution.cpu_processes, jobs, threads)
    if processes > 1:
        train_side_by_side(
            bundle_dir, out_dir, folds, final_fit_dir, processes, threads, execution, title
        )


def checkpoint_final_fit(
    runs_dir: str | Path, recipe: str, cfg: Any, data: ExperimentData, prompt_bank: pd.DataFrame
) -> ExperimentData:
    """Make ``cfg`` (a copy the final fit trains with) checkpoint into the training-run folder
    of the same run (``final/checkpoints``) and resume from the last checkpoint there, so a run
    killed in its final fit continues it when started again; returns the data to train on.

    That is the run's training bundle's data when :func:`run_cross_validation` wrote one (the
    same samples and views as ``data``, read from the bundle as the folds read them): its
    fingerprint is part of a checkpoint's identity, so the final fit trained here and one
    trained side by side with the folds (:mod:`facevlm.runner.side_by_side`), which continues
    it, are the same run. The run folder names the fit already, so the epochs go straight into
    ``final/checkpoints``; the trainer still checks their identity (config, data, initial
    weights) before continuing."""
    folder = training_run_folder(runs_dir, recipe, cfg, data, prompt_bank)
    resume_final_fit_in(cfg, folder / FINAL_FIT_FOLDER)
    bundle_dir = folder / "bundle"
    return load_training_bundle(bundle_dir).data if is_training_bundle(bundle_dir) else data


def resume_final_fit_in(cfg: Any, folder: Path) -> None:
    """Make ``cfg`` checkpoint its training into ``folder/checkpoints`` and continue from the
    last checkpoint there: the final fit's epochs, wherever it is trained."""
    cfg.execution.checkpoint_dir = str(final_fit_checkpoints(folder))
    cfg.execution.checkpoint_subfolder = False  # the run folder names it already
    cfg.execution.resume = "latest"


def final_fit_checkpoints(folder: Path) -> Path:
    """The final fit's epoch checkpoints in its ``folder`` of a training-run folder."""
    return folder / "checkpoints"


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

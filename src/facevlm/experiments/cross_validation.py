"""One cross-validation loop for every model, and the final fit on all subjects.

A model plugs in as a :class:`Recipe`: how to fit it on some rows of the data, and how to predict
the held-out rows of a fold. The loop — folds in order, ``max_folds``, logging, the per-fold
records — is the same for AffectVLM and SMILE-VLM, so a fix or a new feature (resuming, a
launcher) is made once. The final fit trains the same recipe on *every* subject: it is the model
the app and ``facevlm predict`` use, while the per-fold models are what cross-validation reports.

Kedro-free: call it from a notebook, a script, a node or a ``torchrun`` worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from facevlm.config import to_dict
from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.recipes import recipe_entry
from facevlm.experiments.results import CrossValidationResult, FoldResult

logger = logging.getLogger(__name__)


@dataclass
class FoldEvaluation:
    """What a recipe reports for the held-out rows of one fold."""

    predictions: dict[str, np.ndarray]  # evaluation name -> (n_test,) predicted class indices
    test_embeddings: np.ndarray | None = None  # (n_test, D) fused, L2-normalised
    extra: dict[str, Any] = field(default_factory=dict)
    # evaluation name -> (n_test, C) logits behind its predictions (none for k-NN votes)
    logits: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """How one model is trained and evaluated; the loop around it is shared.

    ``fit(data, rows, prompt_bank, cfg, evaluate_rows)`` trains on ``rows`` (``evaluate_rows``:
    held-out rows a supervised recipe may score after every epoch for the curves; a
    self-supervised one ignores them) and returns a fitted object with ``model``, ``tokenizer``
    and ``history``. ``evaluate(fitted, data, train_rows, test_rows, prompt_bank, cfg)`` returns
    a :class:`FoldEvaluation`. ``finalize(fitted, data, rows, cfg)`` returns extra bundle content
    of a final fit (SMILE-VLM: its linear probe), or an empty dict. Its name, title and primary
    evaluation are the registry's (:mod:`facevlm.experiments.recipes`).
    """

    name: str
    config_type: type
    loss: type  # the model's full objective: an ``nn.Module`` over ``MultiviewEmbeddings``
    fit: Callable[..., Any]
    evaluate: Callable[..., FoldEvaluation]
    finalize: Callable[..., dict[str, Any]] = lambda fitted, data, rows, cfg: {}

    @property
    def title(self) -> str:
        """How logs and figures name the model ("AffectVLM")."""
        return recipe_entry(self.name).title


def selected_folds(data: ExperimentData, cfg: Any) -> list[int]:
    """The folds a run evaluates: all, or the first ``cfg.data.max_folds``."""
    return data.folds[: cfg.data.max_folds] if cfg.data.max_folds else data.folds


def cross_validate(
    recipe: Recipe,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    cfg: Any,
    tags: dict[str, str] | None = None,
) -> tuple[CrossValidationResult, Any]:
    """Train and evaluate ``recipe`` on every fold (the first ``cfg.data.max_folds``); returns
    the result and the last fold's fitted model. (:func:`frozen_backbone_metrics` scores the
    untrained starting point on the same folds; the training node adds it to the result.)"""
    records, fitted = [], None
    for fold in selected_folds(data, cfg):
        record, fitted = train_fold(recipe, data, fold, prompt_bank, cfg)
        records.append(record)
    result = CrossValidationResult(
        recipe.name, data.classes, records, to_dict(cfg), dict(tags or {})
    )
    return result, fitted


def train_fold(
    recipe: Recipe, data: ExperimentData, fold: int, prompt_bank: pd.DataFrame, cfg: Any
) -> tuple[FoldResult, Any]:
    """Train ``recipe`` on every subject outside ``fold`` and evaluate it on ``fold``'s: the
    fold's record and the fitted model. The one fold step, whether :func:`cross_validate` loops
    over the folds here or each fold is trained on its own (a runner that reuses finished
    folds, a cluster job per fold), so a fold gives the same bits either way."""
    train_rows, test_rows = data.split(fold)
    logger.info(
        "%s fold %d: %d train / %d test samples",
        recipe.title,
        fold,
        len(train_rows),
        len(test_rows),
    )
    fitted = recipe.fit(data, train_rows, prompt_bank, cfg, test_rows)
    evaluation = recipe.evaluate(fitted, data, train_rows, test_rows, prompt_bank, cfg)
    record = FoldResult(
        fold=fold,
        test_sample_ids=list(data.samples["sample_id"].iloc[test_rows]),
        y_true=data.labels[test_rows],
        predictions=evaluation.predictions,
        history=fitted.history,
        test_embeddings=evaluation.test_embeddings,
        extra=evaluation.extra,
        logits=evaluation.logits,
        test_modalities=_modalities_of(data, test_rows),
    )
    return record, fitted


def _modalities_of(data: ExperimentData, rows: np.ndarray) -> list[str] | None:
    """The render modality of each of ``rows`` when the data has several (else ``None``)."""
    if len(data.modalities) < 2:
        return None
    return [str(m) for m in data.samples["modality"].iloc[rows]]


def frozen_backbone_metrics(
    data: ExperimentData, prompt_bank: pd.DataFrame, cfg: Any
) -> dict[str, float]:
    """What the starting point knows before any training, on the same folds: the model as
    built (pretrained towers, fresh heads), frozen; its zero-shot accuracy against the class
    prompts and a linear probe on its fused embeddings, fitted on each fold's training subjects.
    Named ``baseline/zero_shot/...`` and ``baseline/linear_probe/...``."""
    from facevlm.evaluation.metrics import aggregate_folds, classification_report, metric_names
    from facevlm.experiments.common import build_model, embed_views, zero_shot_predict
    from facevlm.models.probes import linear_probe
    from facevlm.prompts.augmented import class_prompts

    model, tokenizer = build_model(cfg.model, cfg.train.seed)
    embedded = embed_views(model, data.views, cfg.eval_batch_size, cfg.execution.device)
    bank = class_prompts(prompt_bank)
    zero_shot = None
    if all(c in bank for c in data.classes):
        zero_shot = zero_shot_predict(model, tokenizer, embedded.fused, bank, data.classes)
    probe_c = getattr(getattr(cfg, "probe", None), "C", 1.0)
    reports: dict[str, list[dict[str, Any]]] = {"linear_probe": [], "zero_shot": []}
    for fold in selected_folds(data, cfg):
        train_rows, test_rows = data.split(fold)
        truth = data.labels[test_rows]
        probe = linear_probe(
            embedded.fused_raw[train_rows],
            data.labels[train_rows],
            embedded.fused_raw[test_rows],
            len(data.classes),
            seed=cfg.train.seed,
            C=probe_c,
        )
        reports["linear_probe"].append(classification_report(truth, probe, data.classes))
        if zero_shot is not None:
            reports["zero_shot"].append(
                classification_report(truth, zero_shot[test_rows], data.classes)
            )
    metrics: dict[str, float] = {}
    for evaluation, fold_reports in reports.items():
        if fold_reports:
            metrics.update(metric_names(aggregate_folds(fold_reports), "baseline", evaluation))
    return metrics


@dataclass
class FinalFit:
    """A model trained on every sample of the protocol, ready to be bundled."""

    fitted: Any  # the recipe's fitted object (model, tokenizer, history, ...)
    extra: dict[str, Any]  # what the recipe adds to the bundle (e.g. ``linear_probe``)
    n_samples: int
    n_subjects: int


def fit_final(
    recipe: Recipe,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    cfg: Any,
    familiarity_folds: list[dict[str, Any]] | None = None,
    modality: str | None = None,
    fitted: Any = None,
) -> FinalFit:
    """Train ``recipe`` on every sample (all subjects: nothing is held out), or finish
    ``fitted``, the model already trained so (by the runner, into its run folder).

    With ``familiarity_folds`` (the cross-validation folds' held-out familiarity scores,
    ``CrossValidationResult.familiarity_folds()``) the final fit also yields the statistics
    that say how familiar a new input is (``extra["familiarity"]``); ``modality`` is the render
    modality of the training data (``texture+shaded`` for several), recorded with them."""
    rows = np.arange(len(data.labels))
    n_subjects = int(data.samples["subject"].nunique()) if "subject" in data.samples else 0
    if fitted is None:
        logger.info("%s final fit: %d samples of %d subjects", recipe.title, len(rows), n_subjects)
        fitted = recipe.fit(data, rows, prompt_bank, cfg, None)
    extra = recipe.finalize(fitted, data, rows, cfg)
    if familiarity_folds:
        extra["familiarity"] = familiarity_statistics(
            fitted.model, data, rows, familiarity_folds, cfg, modality
        )
    return FinalFit(fitted, extra, len(rows), n_subjects)


def familiarity_statistics(
    model: Any,
    data: ExperimentData,
    rows: np.ndarray,
    familiarity_folds: list[dict[str, Any]],
    cfg: Any,
    modality: str | None = None,
) -> dict[str, Any]:
    """What a bundle stores to say how familiar an input is to ``model`` (trained on ``rows``):
    the fused embeddings and appearance features of its training rows, the folds' held-out
    scores as the yardstick and the neighbour rank scaled to this training set's size
    (:mod:`facevlm.evaluation.familiarity`). Plain numpy data."""
    from facevlm.evaluation.familiarity import EMBEDDING, build_joint_familiarity
    from facevlm.experiments.common import embed_views, familiarity_features

    embedded = embed_views(model, data.views[rows], cfg.eval_batch_size, cfg.execution.device, True)
    statistics = build_joint_familiarity(
        familiarity_features(embedded), familiarity_folds, modality
    )
    embedding = statistics.spaces[EMBEDDING]
    logger.info(
        "familiarity: %d training samples, spaces %s, k=%d, joint threshold %.4f",
        len(rows),
        "+".join(statistics.spaces),
        embedding.k,
        statistics.threshold,
    )
    return statistics.as_dict()

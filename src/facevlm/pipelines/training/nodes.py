"""Nodes shared by the model pipelines (``train_affectvlm``, ``train_smile``, ``train_smile_mer``).

Each node is a thin wrapper: the protocol comes from :mod:`facevlm.data.protocols`, prompts from
:mod:`facevlm.prompts`, training and evaluation from :mod:`facevlm.experiments` (Kedro-free),
figures from :mod:`facevlm.evaluation.figures`. The two models differ only in which prompt bank
and which ``cross_validate`` they use; :data:`MODELS` names them.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facevlm.config import to_dict
from facevlm.datasets.mlflow_model_run import ModelRunReport
from facevlm.datasets.model_bundle import ModelBundle
from facevlm.datasets.pretrained_weights import PretrainedWeights
from facevlm.datasets.render_set import RenderSet
from facevlm.evaluation.figures import (
    confusion_matrix_figure,
    embedding_figure,
    training_curves_figure,
)
from facevlm.experiments import affectvlm, smile
from facevlm.experiments.data import experiment_data
from facevlm.experiments.results import PRIMARY, CrossValidationResult
from facevlm.models.backbone import architecture_image_size
from facevlm.pipelines.pretrain.nodes import resolve_pipeline_weights

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRecipe:
    """How one model plugs into the shared pipeline."""

    name: str
    config_type: type
    cross_validate: Any


MODELS = {
    "affectvlm": ModelRecipe("affectvlm", affectvlm.AffectVLMConfig, affectvlm.cross_validate),
    "smile": ModelRecipe("smile", smile.SmileConfig, smile.cross_validate),
}


def make_protocol_folds(scan_index: pd.DataFrame, protocol: dict[str, Any]) -> pd.DataFrame:
    """The fold table of this model's protocol (subject-independent k-fold, LOSO, ...)."""
    from facevlm.data.protocols import make_folds

    return make_folds(scan_index, protocol)


def build_prompt_bank(
    scan_index: pd.DataFrame, prompts: dict[str, Any], classes: list[str]
) -> pd.DataFrame:
    """The prompt bank a model trains with (a readable, versioned table).

    ``kind``: ``augmented`` (AffectVLM: templates × synonyms × recorded subject metadata),
    ``plain`` (one "a photo of a {label} face" per class, the ablation), ``descriptive``
    (SMILE-VLM: facial-action sentences that pseudo-labels are matched to).
    """
    from facevlm.prompts.augmented import PromptConfig, plain_label_bank
    from facevlm.prompts.augmented import build_prompt_bank as augmented_bank
    from facevlm.prompts.descriptive import descriptive_prompt_bank

    options = {k: v for k, v in prompts.items() if k != "kind"}
    kind = prompts.get("kind", "augmented")
    if kind == "augmented":
        index = scan_index[scan_index["expression"].isin(classes)]
        return augmented_bank(index, classes, PromptConfig.from_params(options))
    if kind == "plain":
        return plain_label_bank(classes)
    if kind == "descriptive":
        return descriptive_prompt_bank(classes, **options)
    raise ValueError(f"prompts.kind must be augmented | plain | descriptive, got {kind!r}")


def _tags(
    model: str, dataset: dict[str, Any], protocol: dict[str, Any], variant: str | None
) -> dict[str, str]:
    tags = {
        "model": model,
        "dataset": str(dataset.get("name")),
        "protocol": str(protocol.get("name")),
    }
    if protocol.get("datasets"):
        tags["dataset"] += ":" + ",".join(protocol["datasets"])
    if variant:
        tags["variant"] = variant
    return tags


def cross_validate_model(
    renders: RenderSet,
    fold_table: pd.DataFrame,
    prompt_bank: pd.DataFrame,
    experiment: dict[str, Any],
    model: str,
    dataset: dict[str, Any],
    protocol: dict[str, Any],
    variant: str | None = None,
    pretrained_backbone: PretrainedWeights | None = None,
) -> tuple[CrossValidationResult, ModelBundle]:
    """Train and evaluate ``model`` on every fold of the protocol.

    ``model.backbone.pretrained: pipeline`` starts from ``pretrained_backbone``, the weights of
    the ``pretrain`` pipeline. Returns the cross-validation result (predictions, histories,
    embeddings of every fold) and a bundle of the last fold's trained model.
    """
    recipe = MODELS[model]
    experiment = resolve_pipeline_weights(experiment, pretrained_backbone)
    cfg = recipe.config_type.from_params(experiment)

    image_size = architecture_image_size(cfg.model.backbone.name, cfg.model.backbone.image_size)
    data = experiment_data(renders, fold_table, cfg.data.classes, image_size, cfg.data.views)
    logger.info(
        "%s: %d samples, %d folds, %d classes",
        model,
        len(data.labels),
        len(data.folds),
        len(data.classes),
    )
    tags = _tags(model, dataset, protocol, variant)
    result, fitted = recipe.cross_validate(data, prompt_bank, cfg, tags)
    from facevlm.prompts.augmented import class_prompts

    bundle = ModelBundle.from_model(
        model,
        fitted.model,
        to_dict(cfg.model),
        data.classes,
        class_prompts(prompt_bank),
        tags=tags,
        fold=result.folds[-1].fold,
    )
    return result, bundle


def _mean_histories(history: pd.DataFrame) -> dict[str, list[float]]:
    """Per-epoch mean over folds of every recorded value (``history_frame()``), named for MLflow."""
    if history.empty:
        return {}
    means = history.drop(columns=["fold"]).groupby("epoch").mean(numeric_only=True).sort_index()
    renamed = {}
    for column in means.columns:
        name = column if "/" in column and not column.startswith("loss/") else f"train/{column}"
        renamed[name] = means[column].tolist()
    return renamed


def fold_metrics_table(result: CrossValidationResult) -> pd.DataFrame:
    """One row per fold and evaluation: accuracy and macro-F1 (the spread behind mean ± std)."""
    rows = []
    for evaluation in result.evaluations:
        for fold, report in zip(result.folds, result.fold_reports(evaluation), strict=True):
            rows.append(
                {
                    "evaluation": evaluation,
                    "fold": fold.fold,
                    "accuracy": report["accuracy"],
                    "macro_f1": report["macro_f1"],
                }
            )
    return pd.DataFrame(rows)


def report_model_run(
    result: CrossValidationResult,
    bundle: ModelBundle,
    experiment: dict[str, Any],
    protocol: dict[str, Any],
) -> tuple[ModelRunReport, dict[str, Any], Any, Any, pd.DataFrame]:
    """Everything a person looks at after training: MLflow run, summary, figures, fold table."""
    aggregate = result.aggregate(PRIMARY)
    confusion = confusion_matrix_figure(
        np.asarray(aggregate["confusion"]),
        result.classes,
        title=f"{result.model}: held-out subjects",
    )
    history = result.history_frame()
    curves = training_curves_figure(history, title=f"{result.model}: per-epoch curves")
    figures = {"confusion_matrix": confusion, "training_curves": curves}
    embeddings = [f.test_embeddings for f in result.folds if f.test_embeddings is not None]
    if embeddings:
        labels = np.concatenate([f.y_true for f in result.folds])
        figures["embeddings"] = embedding_figure(
            np.concatenate(embeddings),
            [result.classes[i] for i in labels],
            result.classes,
            title=f"{result.model}: held-out fused embeddings (PCA)",
        )
    metrics = result.final_metrics()
    fold_table = fold_metrics_table(result)
    run = ModelRunReport(
        run_name=result.tags.get("variant", result.model),
        tags=result.tags,
        params={"experiment": experiment, "protocol": protocol},
        metrics=metrics,
        histories=_mean_histories(history),
        figures=figures,
        tables={"fold_metrics": fold_table, "predictions": result.predictions_frame()},
        model=bundle.build()[0],
    )
    summary = {
        "model": result.model,
        "tags": result.tags,
        "classes": result.classes,
        "n_folds": len(result.folds),
        "metrics": metrics,
    }
    logger.info(
        "%s: test accuracy %.3f ± %.3f over %d folds",
        result.model,
        metrics.get("test/accuracy_mean", float("nan")),
        metrics.get("test/accuracy_std", float("nan")),
        len(result.folds),
    )
    return run, summary, confusion, curves, fold_table


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys replaced recursively (for ablation variants)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def run_ablations(
    renders: RenderSet,
    scan_index: pd.DataFrame,
    fold_table: pd.DataFrame,
    model_params: dict[str, Any],
    ablations: dict[str, dict[str, Any]],
    model: str,
    dataset: dict[str, Any],
    pretrained_backbone: PretrainedWeights | None = None,
) -> tuple[list[ModelRunReport], pd.DataFrame]:
    """Train every ablation variant (the baseline plus ``ablations``: name → parameter override of
    this model's parameters) on the same folds; one MLflow run each, and a comparison table."""
    reports, rows = [], []
    for variant, override in {"baseline": {}, **ablations}.items():
        params = deep_merge(model_params, override)
        classes = params["experiment"].get("data", {}).get("classes") or _default_classes()
        bank = build_prompt_bank(scan_index, params["prompts"], classes)
        result, bundle = cross_validate_model(
            renders,
            fold_table,
            bank,
            params["experiment"],
            model,
            dataset,
            params["protocol"],
            variant,
            pretrained_backbone,
        )
        report, summary, *_ = report_model_run(
            result, bundle, params["experiment"], params["protocol"]
        )
        reports.append(report)
        rows.append({"variant": variant, "override": str(override), **summary["metrics"]})
        logger.info(
            "ablation %s: accuracy %.3f",
            variant,
            summary["metrics"].get("test/accuracy_mean", np.nan),
        )
    table = pd.DataFrame(rows)
    keep = ["variant", "override"] + [
        c for c in table.columns if c.endswith(("accuracy_mean", "accuracy_std", "macro_f1_mean"))
    ]
    return reports, table[keep]


def _default_classes() -> list[str]:
    from facevlm.experiments.common import DataConfig

    return DataConfig().classes

"""What a cross-validated experiment produces, in a form that pickles without torch.

A fold keeps its held-out predictions (for every evaluation the model has: AffectVLM's prompt
classifier; SMILE-VLM's linear probe, zero-shot and k-NN), its per-epoch training history and
the held-out embeddings (for the embedding plot). Everything downstream — MLflow metrics, the
confusion matrix, the curves, the ablation table — is derived from these records, so it can be
recomputed from a saved result without training again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from facevlm.evaluation.metrics import aggregate_folds, classification_report, metric_names

#: The evaluation whose metrics carry no extra name segment (``test/accuracy_mean``).
PRIMARY = "primary"

#: What a model's primary evaluation is, where the shared name alone would mislead: SMILE-VLM's
#: ``test/accuracy_mean`` is a linear probe on frozen self-supervised embeddings, not supervised
#: accuracy, so its primary metrics are also logged as ``test/linear_probe/...``.
PRIMARY_EVALUATION_NAME = {"smile": "linear_probe"}

#: Key of ``FoldResult.extra`` for a recipe's own per-fold figures (``{name: value}``, e.g.
#: SMILE-VLM's ``pseudo_labels/agreement_final``): logged as ``<name>_mean`` and ``<name>_std``.
FOLD_METRICS = "metrics"

#: Key of ``FoldResult.extra`` for the fold's held-out familiarity scores (the ``as_dict`` of a
#: :class:`facevlm.evaluation.familiarity.FoldScores`): the final model's yardstick of how
#: familiar an unseen in-distribution scan is.
FOLD_FAMILIARITY = "familiarity"

#: Training time of a fold (sum of the epochs' ``time_s``), mean and std over folds.
FOLD_TIME_MEAN, FOLD_TIME_STD = "train/fold_time_s_mean", "train/fold_time_s_std"


@dataclass
class FoldResult:
    """One fold: held-out truth and predictions per evaluation, training history, embeddings."""

    fold: int
    test_sample_ids: list[str]
    y_true: np.ndarray  # (n_test,) class indices
    predictions: dict[str, np.ndarray]  # evaluation name -> (n_test,) predicted class indices
    history: list[dict[str, float]]  # one record per epoch (TrainHistory.epochs)
    test_embeddings: np.ndarray | None = None  # (n_test, D) fused, L2-normalised
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. SMILE's pseudo-label refreshes


@dataclass
class CrossValidationResult:
    """All folds of one model on one protocol."""

    model: str
    classes: list[str]
    folds: list[FoldResult]
    config: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    #: the untrained starting point scored on the same folds (``baseline/zero_shot/...``)
    baseline_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def evaluations(self) -> list[str]:
        names = dict.fromkeys(k for fold in self.folds for k in fold.predictions)
        return list(names)

    def fold_reports(self, evaluation: str = PRIMARY) -> list[dict[str, Any]]:
        return [
            classification_report(f.y_true, f.predictions[evaluation], self.classes)
            for f in self.folds
        ]

    def aggregate(self, evaluation: str = PRIMARY) -> dict[str, Any]:
        """Mean ± std over folds of accuracy, macro-F1 and per-class recall; summed confusion."""
        return aggregate_folds(self.fold_reports(evaluation))

    def final_metrics(self) -> dict[str, float]:
        """Flat metric names: the shared ``test/accuracy_mean`` (each model's primary evaluation,
        so both models line up), the same under a name that says what it measures where
        :data:`PRIMARY_EVALUATION_NAME` has one (``test/linear_probe/accuracy_mean``), and the
        other evaluations (``test/knn/...``). Deterministic: timings are in
        :meth:`training_time_metrics`."""
        metrics: dict[str, float] = {}
        for evaluation in self.evaluations:
            aggregate = self.aggregate(evaluation)
            if evaluation == PRIMARY:
                metrics.update(metric_names(aggregate, "test"))
                named = PRIMARY_EVALUATION_NAME.get(self.model)
                if named:
                    metrics.update(metric_names(aggregate, "test", named))
            else:
                metrics.update(metric_names(aggregate, "test", evaluation))
        metrics.update(self.baseline_metrics)
        metrics.update(self.recipe_fold_metrics())
        return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}

    def recipe_fold_metrics(self) -> dict[str, float]:
        """Mean and std over folds of each figure a recipe recorded per fold
        (:data:`FOLD_METRICS`), over the folds that recorded it."""
        values: dict[str, list[float]] = {}
        for fold in self.folds:
            for name, value in fold.extra.get(FOLD_METRICS, {}).items():
                values.setdefault(name, []).append(float(value))
        metrics = {}
        for name, per_fold in values.items():
            metrics[f"{name}_mean"] = float(np.mean(per_fold))
            metrics[f"{name}_std"] = float(np.std(per_fold))
        return metrics

    def training_time_metrics(self) -> dict[str, float]:
        """Training time of a fold (its epochs' ``time_s`` summed): mean and std over folds
        (``train/fold_time_s_mean``, ``train/fold_time_s_std``); empty when none was timed."""
        fold_seconds = [
            sum(record.get("time_s", 0.0) for record in fold.history)
            for fold in self.folds
            if any("time_s" in record for record in fold.history)
        ]
        if not fold_seconds:
            return {}
        return {
            FOLD_TIME_MEAN: float(np.mean(fold_seconds)),
            FOLD_TIME_STD: float(np.std(fold_seconds)),
        }

    def familiarity_folds(self) -> list[dict[str, Any]]:
        """The folds' held-out familiarity scores (:data:`FOLD_FAMILIARITY`), of the folds that
        recorded them (a result saved before they existed has none)."""
        return [f.extra[FOLD_FAMILIARITY] for f in self.folds if FOLD_FAMILIARITY in f.extra]

    def history_frame(self) -> pd.DataFrame:
        """One row per (fold, epoch) with every recorded training and evaluation value."""
        rows = [{"fold": f.fold, **record} for f in self.folds for record in f.history]
        return pd.DataFrame(rows)

    def predictions_frame(self) -> pd.DataFrame:
        """One row per held-out sample and fold: truth and each evaluation's prediction."""
        frames = []
        for f in self.folds:
            frame = pd.DataFrame({"fold": f.fold, "sample_id": f.test_sample_ids})
            frame["true"] = [self.classes[i] for i in f.y_true]
            for name, pred in f.predictions.items():
                frame[f"pred_{name}"] = [self.classes[i] for i in pred]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

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
        """Flat metric names shared by both models: ``test/accuracy_mean``, ``test/knn/...``."""
        metrics: dict[str, float] = {}
        for evaluation in self.evaluations:
            segment = None if evaluation == PRIMARY else evaluation
            metrics.update(metric_names(self.aggregate(evaluation), "test", segment))
        metrics.update(self.baseline_metrics)
        return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}

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

"""What a cross-validated experiment produces, in a form that pickles without torch.

A fold keeps its held-out predictions (for every evaluation the model has: AffectVLM's prompt
classifier; SMILE-VLM's linear probe, zero-shot and k-NN), the logits behind them where the
evaluation has any (for calibration: :mod:`facevlm.evaluation.calibration`), its per-epoch
training history and the held-out embeddings (for the embedding plot). Everything downstream —
MLflow metrics, the confusion matrix, the curves, the reliability diagram, the ablation table —
is derived from these records, so it can be recomputed from a saved result without training
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from facevlm.evaluation import calibration, conformal
from facevlm.evaluation.metrics import (
    aggregate_folds,
    classification_report,
    metric_names,
    metric_prefix,
)
from facevlm.experiments.recipes import PRIMARY, evaluation_heads, primary_evaluation_name

#: Key of ``FoldResult.extra`` for a recipe's own per-fold figures (``{name: value}``, e.g.
#: SMILE-VLM's ``pseudo_labels/agreement_final``): logged as ``<name>_mean`` and ``<name>_std``.
FOLD_METRICS = "metrics"

#: Key of ``FoldResult.extra`` for the fold's held-out familiarity scores (``{space: as_dict of
#: a FoldScores}``, :func:`facevlm.evaluation.familiarity.fold_spaces` reads older results too):
#: the final model's yardstick of how familiar an unseen in-distribution scan is.
FOLD_FAMILIARITY = "familiarity"

#: Training time of a fold (sum of the epochs' ``time_s``), mean and std over folds.
FOLD_TIME_MEAN, FOLD_TIME_STD = "train/fold_time_s_mean", "train/fold_time_s_std"

#: The sample column that says which face model made a synthetic sample's face (``procedural``,
#: ``ict``); empty for scans of real people. Held-out accuracy is also reported per value.
FACE_SOURCE = "face_source"


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
    # evaluation name -> (n_test, C) scores before the softmax (-inf: a class it cannot predict)
    logits: dict[str, np.ndarray] = field(default_factory=dict)
    # the render modality of each held-out row when the data had several (each held-out scan
    # is scored once per modality); None: one modality
    test_modalities: list[str] | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a fold result pickled before logits (or modalities) were kept, reused on resume
        self.__dict__.update({"logits": {}, "test_modalities": None, **state})

    def modality_report(self, evaluation: str, modality: str, classes: list[str]) -> dict:
        """The classification report of ``evaluation`` on the held-out rows of ``modality``."""
        rows = np.asarray(self.test_modalities) == modality
        return classification_report(self.y_true[rows], self.predictions[evaluation][rows], classes)


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
    #: each sample's face source (``sample_id -> source``, :data:`FACE_SOURCE`), for the samples
    #: whose data record one; the per-source accuracy is computed from it
    face_sources: dict[str, str] = field(default_factory=dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a result pickled before face sources were recorded (a saved cv_results version)
        self.__dict__.update({"face_sources": {}, **state})

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

    @property
    def modalities(self) -> list[str]:
        """The render modalities the held-out rows were scored in (``[]``: one, unrecorded)."""
        if not self.folds or any(f.test_modalities is None for f in self.folds):
            return []
        return list(dict.fromkeys(m for f in self.folds for m in f.test_modalities))

    def _metric_names(self, evaluation: str) -> list[str | None]:
        """The names ``evaluation``'s metrics are logged under: ``None`` (no name segment) for the
        primary one, and also its registry name where it has one (SMILE-VLM: ``linear_probe``)."""
        if evaluation != PRIMARY:
            return [evaluation]
        named = primary_evaluation_name(self.model)
        return [None, named] if named else [None]

    def final_metrics(self) -> dict[str, float]:
        """Flat metric names: the shared ``test/accuracy_mean`` (each model's primary evaluation,
        so both models line up), the same under a name that says what it measures where
        the model's registry entry has one (:func:`~facevlm.experiments.recipes.primary_evaluation_name`) (``test/linear_probe/accuracy_mean``), and the
        other evaluations (``test/knn/...``). Deterministic: timings are in
        :meth:`training_time_metrics`.

        Held-out rows scored in several render modalities: the names above cover all of them,
        and :meth:`modality_metrics` adds each modality's own (``test/accuracy_shaded_mean``)."""
        metrics: dict[str, float] = {}
        for evaluation in self.evaluations:
            aggregate = self.aggregate(evaluation)
            for name in self._metric_names(evaluation):
                metrics.update(metric_names(aggregate, "test", name))
        metrics.update(self.modality_metrics())
        metrics.update(self.calibration_metrics())
        metrics.update(self.face_source_metrics())
        metrics.update(self.baseline_metrics)
        metrics.update(self.recipe_fold_metrics())
        return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}

    def held_out_face_sources(self) -> dict[str, int]:
        """How many held-out predictions (over all folds) each face source has, by source
        name; empty when no held-out sample records one."""
        counts: dict[str, int] = {}
        for fold in self.folds:
            for sample_id in fold.test_sample_ids:
                source = self.face_sources.get(sample_id)
                if source is not None:
                    counts[source] = counts.get(source, 0) + 1
        return dict(sorted(counts.items()))

    def face_source_metrics(self) -> dict[str, float]:
        """Held-out accuracy per face source, when the held-out samples come from more than
        one: ``test/accuracy_<source>`` for the primary evaluation (also under its
        primary evaluation's name), ``test/<evaluation>/accuracy_<source>`` for the
        others (``test/knn/accuracy_ict``).

        The accuracy of every out-of-fold prediction of the source's samples, pooled over folds
        rather than averaged per fold: the sources alternate between subjects, so a fold of a
        few subjects may hold few samples of one source, or none. A set of one source gets no
        such metric: it would repeat the overall accuracy under another name."""
        if len(self.held_out_face_sources()) < 2:
            return {}
        sources = np.concatenate(
            [
                np.array([self.face_sources.get(s) for s in f.test_sample_ids], dtype=object)
                for f in self.folds
            ]
        )
        truth = np.concatenate([f.y_true for f in self.folds])
        metrics: dict[str, float] = {}
        for evaluation in self.evaluations:
            predicted = np.concatenate([f.predictions[evaluation] for f in self.folds])
            names = self._metric_names(evaluation)
            for source in self.held_out_face_sources():
                rows = sources == source
                accuracy = float(np.mean(predicted[rows] == truth[rows]))
                for name in names:
                    metrics[f"{metric_prefix('test', name)}accuracy_{source}"] = accuracy
        return metrics

    def modality_metrics(self) -> dict[str, float]:
        """Accuracy and macro-F1 of each evaluation on each modality's held-out rows, mean and
        std over folds: ``test/accuracy_texture_mean``, ``test/accuracy_shaded_std``,
        ``test/macro_f1_shaded_mean``, ``test/knn/accuracy_shaded_mean`` ... (primary names as in
        :meth:`final_metrics`). Empty unless the rows were scored in several modalities."""
        modalities = self.modalities
        if len(modalities) < 2:
            return {}
        metrics: dict[str, float] = {}
        for evaluation in self.evaluations:
            names = self._metric_names(evaluation)
            for modality in modalities:
                aggregate = aggregate_folds(
                    [f.modality_report(evaluation, modality, self.classes) for f in self.folds]
                )
                figures = {
                    f"{key}_{modality}_{stat}": float(aggregate[f"{key}_{stat}"])
                    for key in ("accuracy", "macro_f1")
                    for stat in ("mean", "std")
                }
                for name in names:
                    prefix = metric_prefix("test", name)
                    metrics.update({f"{prefix}{k}": v for k, v in figures.items()})
        return metrics

    @property
    def calibrated_evaluations(self) -> list[str]:
        """The evaluations with logits in every fold (those that can be calibrated)."""
        return [e for e in self.evaluations if all(e in f.logits for f in self.folds)]

    def fold_calibration(self, evaluation: str = PRIMARY) -> calibration.FoldCalibration:
        """Temperature scaling of ``evaluation`` on the out-of-fold logits: per fold, the ECE
        before and after a temperature fitted on the *other* folds; and the temperature
        fitted on every fold, the one a model trained on all subjects is given."""
        return calibration.leave_one_fold_out(
            [f.logits[evaluation] for f in self.folds], [f.y_true for f in self.folds]
        )

    def calibration_metrics(self) -> dict[str, float]:
        """ECE (15 bins) mean and std over folds after and before calibration, the ECE of all
        folds' held-out predictions pooled (``ece_pooled``, ``ece_pooled_uncalibrated``: one
        figure over every held-out row, where a fold of a few dozen rows is mostly sampling
        noise), and the temperature fitted on all folds, of every evaluation with logits:
        ``test/ece_mean``, ``test/ece_std``, ``test/ece_uncalibrated_mean``,
        ``test/ece_uncalibrated_std``, ``test/ece_pooled``, ``test/ece_pooled_uncalibrated``,
        ``test/temperature`` (primary; also under its primary evaluation's name), and
        ``test/zero_shot/ece_mean`` ... for the others. A run of one fold has no calibrated
        ECE (no other fold to fit its temperature on). The sets of answers add their figures
        (:meth:`answer_set_metrics`)."""
        metrics: dict[str, float] = {}
        for evaluation in self.calibrated_evaluations:
            fitted = self.fold_calibration(evaluation)
            figures = {"temperature": fitted.temperature}
            for name, values in (
                ("ece", fitted.ece_calibrated),
                ("ece_uncalibrated", fitted.ece_uncalibrated),
            ):
                defined = [v for v in values if np.isfinite(v)]
                if defined:
                    figures[f"{name}_mean"] = float(np.mean(defined))
                    figures[f"{name}_std"] = float(np.std(defined))
            before, after = self.reliability(evaluation, fitted)
            figures["ece_pooled_uncalibrated"] = before.ece
            if len(self.folds) > 1:  # one fold: its temperature was fitted on its own rows
                figures["ece_pooled"] = after.ece
            figures.update(self.answer_set_metrics(evaluation, fitted))
            for name in self._metric_names(evaluation):
                prefix = metric_prefix("test", name)
                metrics.update({f"{prefix}{k}": v for k, v in figures.items()})
        return metrics

    def reliability(
        self, evaluation: str = PRIMARY, fitted: calibration.FoldCalibration | None = None
    ) -> tuple[calibration.ReliabilityBins, calibration.ReliabilityBins]:
        """Reliability bins of every held-out row of ``evaluation``, all folds pooled, before
        calibration and after (each fold divided by the temperature fitted on the other folds;
        a single fold by its own, the only one there is). Their ECEs are ``ece_pooled`` and
        ``ece_pooled_uncalibrated``."""
        fitted = fitted or self.fold_calibration(evaluation)
        labels = np.concatenate([f.y_true for f in self.folds])
        before = np.concatenate([calibration.softmax(f.logits[evaluation]) for f in self.folds])
        after = np.concatenate(
            [
                calibration.softmax(
                    f.logits[evaluation], t if np.isfinite(t) else fitted.temperature
                )
                for f, t in zip(self.folds, fitted.fold_temperatures, strict=True)
            ]
        )
        return (
            calibration.reliability_bins(before, labels),
            calibration.reliability_bins(after, labels),
        )

    def calibrated_probabilities(
        self, evaluation: str = PRIMARY, fitted: calibration.FoldCalibration | None = None
    ) -> list[np.ndarray]:
        """Each fold's held-out probabilities over the temperature fitted on *all* folds: what
        the final model, given that temperature, would show for them (the sets' calibration
        rows)."""
        fitted = fitted or self.fold_calibration(evaluation)
        return [calibration.softmax(f.logits[evaluation], fitted.temperature) for f in self.folds]

    def answer_set_metrics(
        self, evaluation: str = PRIMARY, fitted: calibration.FoldCalibration | None = None
    ) -> dict[str, float]:
        """How the sets of answers (:mod:`facevlm.evaluation.conformal`, the default coverage)
        do on the held-out folds, each fold's sets cut at the threshold of the other folds'
        scores: ``set_coverage`` (fraction of sets holding the truth), ``set_size_mean``,
        ``abstention_rate`` (sets of more than :data:`~facevlm.evaluation.conformal.MAX_ANSWERS`
        classes, where the predictor says it cannot tell) and ``answered_accuracy`` (accuracy of
        the answers given). Empty for a single fold (no other fold to calibrate on)."""
        if len(self.folds) < 2:
            return {}
        labels = np.concatenate([f.y_true for f in self.folds])
        sets = conformal.cross_fold_sets(
            self.calibrated_probabilities(evaluation, fitted), [f.y_true for f in self.folds]
        )
        predicted = np.concatenate([f.predictions[evaluation] for f in self.folds])
        answered = sets.sum(axis=1) <= conformal.MAX_ANSWERS
        figures = {
            "set_coverage": float(sets[np.arange(len(labels)), labels].mean()),
            "set_size_mean": float(sets.sum(axis=1).mean()),
            "abstention_rate": float(1.0 - answered.mean()),
        }
        if answered.any():
            figures["answered_accuracy"] = float(np.mean(predicted[answered] == labels[answered]))
        return figures

    def calibration_record(self) -> dict[str, Any] | None:
        """The bundle's ``calibration`` for a model of this recipe trained on all subjects: a
        temperature per classifier head (the recipe's ``evaluation_heads``), fitted on all
        out-of-fold logits of the evaluation that scores that head, with the ECE before and
        after (mean over folds, leave-one-fold-out); and the calibration scores of the sets of
        answers (:mod:`facevlm.evaluation.conformal`) of every out-of-fold row, on the
        probabilities over that temperature. ``None`` when no evaluation kept logits."""
        heads = evaluation_heads(self.model)
        fitted = {e: self.fold_calibration(e) for e in self.calibrated_evaluations if e in heads}
        record = calibration.bundle_record({heads[e]: c for e, c in fitted.items()})
        if record is None:
            return None
        labels = np.concatenate([f.y_true for f in self.folds])
        held_out = {
            heads[e]: (np.concatenate(self.calibrated_probabilities(e, c)), labels)
            for e, c in fitted.items()
        }
        record[conformal.RECORD_KEY] = conformal.calibrate(held_out).as_dict()
        return record

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
        """One row per held-out sample and fold (and modality, when scored in several):
        truth and each evaluation's prediction, and the sample's face source when the data
        record them."""
        frames = []
        for f in self.folds:
            frame = pd.DataFrame({"fold": f.fold, "sample_id": f.test_sample_ids})
            if f.test_modalities is not None:
                frame["modality"] = f.test_modalities
            if self.face_sources:
                frame[FACE_SOURCE] = [self.face_sources.get(s) for s in f.test_sample_ids]
            frame["true"] = [self.classes[i] for i in f.y_true]
            for name, pred in f.predictions.items():
                frame[f"pred_{name}"] = [self.classes[i] for i in pred]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

"""Fold metrics, their mean ± std over folds, and the flat metric names both models log.

The protocol (subject-independent k-fold, or leave-one-subject-out for 4DME) reports accuracy,
macro-F1 and per-class recall as mean ± std over folds, plus a confusion matrix. One test fold
of a leave-one-subject-out split rarely holds every class, so:

- a class with no test sample has recall ``NaN`` (undefined, not 0) and fold aggregation takes
  the mean over the folds where it is defined;
- macro-F1 averages the F1 of the classes that occur in the fold's truth or predictions (a class
  predicted but absent scores 0; a class neither present nor predicted is left out) — the same
  rule as scikit-learn's ``f1_score(average="macro")`` without ``labels=``.

Metric names
------------
:func:`metric_names` flattens an aggregate into the names both models log to MLflow, so runs of
AffectVLM and SMILE-VLM line up in one comparison table::

    <split>/[<evaluation>/]accuracy_mean
    <split>/[<evaluation>/]accuracy_std
    <split>/[<evaluation>/]macro_f1_mean
    <split>/[<evaluation>/]macro_f1_std
    <split>/[<evaluation>/]recall/<class>      # per-class recall, mean over folds

``split`` is ``test`` for the cross-validation test folds (``val`` during training). Without an
``evaluation`` segment the name means the model's *primary* evaluation: the prompt classifier
(cosine similarity to class prompts) for AffectVLM, the linear probe on frozen embeddings for
SMILE-VLM (which logs them a second time as ``test/linear_probe/...``, a name that says what
they measure: see ``facevlm.experiments.results``). Extra evaluations add a segment:
``test/zero_shot/accuracy_mean`` (SMILE against class prompts), ``test/knn/accuracy_mean``
(k-nearest neighbours on frozen embeddings).
Examples: ``test/accuracy_mean``, ``test/recall/happiness``, ``test/zero_shot/macro_f1_std``.
When the held-out samples come from more than one face source of the synthetic set (its
procedural generator, ICT-FaceKit), each evaluation adds its accuracy per source,
``<split>/[<evaluation>/]accuracy_<source>`` (``test/accuracy_ict``): over every out-of-fold
prediction of the source's samples, not a mean over folds (see ``facevlm.experiments.results``).
An evaluation with logits adds its calibration under the same prefix (see
:mod:`facevlm.evaluation.calibration`): ``ece_mean``/``ece_std`` after temperature scaling,
``ece_uncalibrated_mean``/``ece_uncalibrated_std`` before, and the ``temperature``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Evaluation segments in use besides the primary one (``None``).
ZERO_SHOT = "zero_shot"
KNN = "knn"

_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")


def label_indices(
    labels: Sequence[Any], classes: Sequence[str], what: str = "labels"
) -> np.ndarray:
    """Class indices of ``labels`` given as class names or as integer indices.

    Models emit indices, scan indexes hold names; accepting both spares every caller a
    conversion. ``what`` names the argument in error messages.
    """
    position = {name: i for i, name in enumerate(classes)}
    out = np.empty(len(labels), dtype=np.int64)
    for i, label in enumerate(labels):
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= int(label) < len(classes):
                raise ValueError(
                    f"{what}[{i}] = {label} is not a class index 0..{len(classes) - 1}"
                )
            out[i] = int(label)
        elif str(label) in position:
            out[i] = position[str(label)]
        else:
            raise ValueError(f"{what}[{i}] = {label!r} is not one of {', '.join(classes)}")
    return out


def confusion_matrix(
    y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[str]
) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as ``j``."""
    true = label_indices(y_true, classes, "y_true")
    pred = label_indices(y_pred, classes, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} labels but y_pred has {len(pred)}")
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(counts, (true, pred), 1)
    return counts


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = num.astype(float)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def classification_report(
    y_true: Sequence[Any], y_pred: Sequence[Any], classes: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class recall/precision/F1 and the confusion matrix of one fold.

    Args:
        y_true, y_pred: class names or class indices, one per test sample.
        classes: all class names, in class-index order (rows/columns of the confusion).

    Returns:
        ``accuracy``, ``macro_f1`` (floats); ``per_class_recall``, ``per_class_precision``,
        ``per_class_f1`` and ``support`` (``{class: value}``, NaN where undefined);
        ``confusion`` (nested list, rows = true class, columns = predicted); ``classes``;
        ``n_samples``. Plain Python types, so it serialises to JSON as is.
    """
    classes = [str(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise ValueError(f"duplicate class names in {classes}")
    counts = confusion_matrix(y_true, y_pred, classes)
    n = int(counts.sum())
    if n == 0:
        raise ValueError("classification_report needs at least one sample")
    hits = np.diag(counts)
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    recall = _ratio(hits, support)
    precision = _ratio(hits, predicted)
    f1 = _ratio(2 * hits, support + predicted)  # = 2PR/(P+R), and 0 when predicted but absent
    occurs = (support + predicted) > 0

    def per_class(values: np.ndarray) -> dict[str, float]:
        return {name: float(v) for name, v in zip(classes, values, strict=True)}

    return {
        "n_samples": n,
        "accuracy": float(hits.sum() / n),
        "macro_f1": float(f1[occurs].mean()),
        "per_class_recall": per_class(recall),
        "per_class_precision": per_class(precision),
        "per_class_f1": per_class(f1),
        "support": {name: int(s) for name, s in zip(classes, support, strict=True)},
        "confusion": counts.tolist(),
        "classes": classes,
    }


def _mean_std(values: Sequence[float], ddof: int) -> tuple[float, float]:
    """Mean and std of the defined (non-NaN) values; NaN when too few are defined."""
    defined = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if defined.size == 0:
        return math.nan, math.nan
    mean = float(defined.mean())
    std = float(defined.std(ddof=ddof)) if defined.size > ddof else math.nan
    return mean, std


def aggregate_folds(reports: Sequence[Mapping[str, Any]], ddof: int = 0) -> dict[str, Any]:
    """Mean ± std over folds of :func:`classification_report` outputs.

    Args:
        reports: one report per fold, all over the same classes.
        ddof: delta degrees of freedom of the std; 0 (population std, numpy's default and the
            usual choice in this literature) or 1 (sample std).

    Returns:
        ``n_folds``; ``accuracy_mean``, ``accuracy_std``, ``macro_f1_mean``, ``macro_f1_std``;
        ``per_class_recall_mean`` and ``per_class_recall_std`` (``{class: value}``, over the folds
        where the class had test samples); ``confusion`` summed over folds; ``classes``.
    """
    if not reports:
        raise ValueError("aggregate_folds needs at least one fold report")
    classes = list(reports[0]["classes"])
    for i, report in enumerate(reports):
        if list(report["classes"]) != classes:
            raise ValueError(f"fold {i} has classes {report['classes']}, fold 0 has {classes}")
    out: dict[str, Any] = {"n_folds": len(reports)}
    for key in ("accuracy", "macro_f1"):
        out[f"{key}_mean"], out[f"{key}_std"] = _mean_std([r[key] for r in reports], ddof)
    recall = {c: _mean_std([r["per_class_recall"][c] for r in reports], ddof) for c in classes}
    out["per_class_recall_mean"] = {c: m for c, (m, _) in recall.items()}
    out["per_class_recall_std"] = {c: s for c, (_, s) in recall.items()}
    out["confusion"] = np.sum([np.asarray(r["confusion"]) for r in reports], axis=0).tolist()
    out["classes"] = classes
    return out


def metric_prefix(split: str = "test", evaluation: str | None = None) -> str:
    """``test/`` or ``test/zero_shot/``: the start of every name of one evaluation."""
    for segment in (split, evaluation):
        if segment is not None and not _SEGMENT.match(segment):
            raise ValueError(f"metric name segment {segment!r} must match {_SEGMENT.pattern}")
    return f"{split}/" if evaluation is None else f"{split}/{evaluation}/"


def metric_names(
    aggregate: Mapping[str, Any], split: str = "test", evaluation: str | None = None
) -> dict[str, float]:
    """Flat ``{name: value}`` metrics of one evaluation, named as the module docstring says.

    Class names are kept as written except for characters MLflow rejects, which become ``_``.
    """
    prefix = metric_prefix(split, evaluation)
    flat = {
        f"{prefix}{key}": float(aggregate[key])
        for key in ("accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std")
    }
    for name, value in aggregate["per_class_recall_mean"].items():
        flat[f"{prefix}recall/{_UNSAFE.sub('_', str(name))}"] = float(value)
    return flat

"""Post-hoc calibration of classifier probabilities by temperature scaling, and its measure.

A trained AffectVLM or SMILE-VLM head is sure of itself far more often than it is right: the
prompt classifier multiplies cosine similarities by CLIP's logit scale (about 100), and a
logistic-regression probe on a few hundred high-dimensional embeddings separates its training
data perfectly. Its softmax probabilities are therefore no probabilities in the sense a user
reads them ("0.998 surprise" should be right 998 times in 1000).

**Temperature scaling** (Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of Modern Neural
Networks") divides every logit of a head by one scalar ``T > 0`` before the softmax, ``T`` fitted
by minimising the negative log-likelihood of held-out predictions. Why this method:

- one parameter per head, so a few hundred held-out scans fit it without overfitting, where
  histogram binning, isotonic regression and vector/matrix scaling (one or ``C²`` parameters per
  class) overfit at that size — Guo et al. found temperature scaling as good or better than all
  of them on every benchmark;
- dividing all logits by the same positive number keeps their order: the predicted class, hence
  accuracy and every confusion matrix, never changes; only the confidence does;
- ``T`` is fitted on the out-of-fold predictions cross-validation already makes (each held-out
  fold scored by a model that never saw it), so calibrating costs no data and no training.

Measured by the **expected calibration error** (ECE; Naeini et al. 2015, as in Guo et al.): the
top-class confidences are put in 15 equal-width bins on (0, 1] and ECE is the sample-weighted
mean of ``|accuracy - mean confidence|`` over the bins. The reliability diagram plots the same
bins. A per-fold ECE *after* calibration uses a temperature fitted on the *other* folds
(:func:`leave_one_fold_out`): a temperature fitted on the rows it is scored on would flatter it.

Pure numpy (and scipy's scalar optimiser): no torch, no Kedro, so it runs in the training loop,
the report node, a notebook or a benchmark alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: Equal-width confidence bins of the ECE and the reliability diagram (Guo et al. use 15).
N_BINS = 15
#: Search interval of the temperature. Wide on purpose: the prompt classifier's logits are
#: cosines times ~100 and a probe's can be in the hundreds, so useful temperatures reach far above
#: 1; the bounds only stop a perfectly separated fit from running off to 0 or infinity.
TEMPERATURE_BOUNDS = (1e-2, 1e4)

#: The classifier heads of a saved model that a temperature applies to (keys of a bundle's
#: ``calibration["temperature"]``): the cosine-similarity classifier against the class prompts
#: (AffectVLM's prediction, SMILE-VLM's zero-shot) and SMILE-VLM's linear probe.
PROMPT_CLASSIFIER = "prompt_classifier"
LINEAR_PROBE = "linear_probe"
HEADS = (PROMPT_CLASSIFIER, LINEAR_PROBE)
METHOD = "temperature"


def _logits_and_labels(logits: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or z.shape[1] == 0:
        raise ValueError(f"logits must be (N, C) with C >= 1, got shape {z.shape}")
    if y.ndim != 1 or len(y) != len(z):
        raise ValueError(f"labels must be ({len(z)},) class indices, got shape {y.shape}")
    if len(y) and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got {np.unique(y)}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("logits must be finite (or -inf for a class the head cannot predict)")
    if len(z) and not np.isfinite(z).any(axis=1).all():
        raise ValueError("every row of logits needs at least one finite value")
    return z, y.astype(np.int64)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return t


def softmax(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / T)`` over the last axis, computed stably; ``-inf`` logits get 0."""
    z = np.asarray(logits, dtype=np.float64) / _check_temperature(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _scorable(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rows whose true class the head can predict at all (finite logit): a row whose class
    has logit ``-inf`` (a probe fitted without that class) has infinite loss at every
    temperature and says nothing about which one fits."""
    return np.isfinite(z[np.arange(len(y)), y])


def negative_log_likelihood(
    logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0
) -> float:
    """Mean ``-log softmax(logits / T)[label]`` over the rows whose true class has a finite
    logit (see :func:`fit_temperature`)."""
    z, y = _logits_and_labels(logits, labels)
    keep = _scorable(z, y)
    return _nll(z[keep], y[keep], 1.0 / _check_temperature(temperature))


def _nll(z: np.ndarray, y: np.ndarray, inverse_temperature: float) -> float:
    scaled = z * inverse_temperature  # -inf stays -inf for a positive factor
    top = scaled.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(y)), y]))


def fit_temperature(
    logits: ArrayLike, labels: ArrayLike, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """The temperature ``T`` that minimises the NLL of ``softmax(logits / T)`` on ``labels``.

    A 1-D bounded search (Brent's method) over ``log T``: the NLL is convex in ``1/T``, so it
    has one minimum along ``log T`` and the search finds it; working in ``log T`` keeps ``T``
    positive and treats 0.1 and 10 alike. A fit whose minimum lies past ``bounds`` (logits that
    separate the classes perfectly want ``T -> 0``) returns the bound.

    Args:
        logits: ``(N, C)`` scores before the softmax, held out from the model that made them.
            ``-inf`` marks a class the head cannot predict; rows whose true class is such a
            class are left out of the fit.
        labels: ``(N,)`` true class indices.

    Raises:
        ValueError: malformed input, or no row the fit can use.
    """
    from scipy.optimize import minimize_scalar

    z, y = _logits_and_labels(logits, labels)
    keep = _scorable(z, y)
    if not keep.any():
        raise ValueError("fit_temperature needs at least one row whose true class has a logit")
    z, y = z[keep], y[keep]
    low, high = (math.log(_check_temperature(b)) for b in bounds)
    if not low < high:
        raise ValueError(f"temperature bounds must be increasing, got {bounds}")
    found = minimize_scalar(
        lambda log_t: _nll(z, y, math.exp(-log_t)),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(math.exp(found.x))


@dataclass(frozen=True)
class ReliabilityBins:
    """Top-class confidence in ``n`` equal-width bins ``(edges[i], edges[i + 1]]``.

    ``confidence`` and ``accuracy`` are the mean confidence and the fraction right of the
    samples in each bin (NaN for an empty bin); ``counts`` how many fell in it.
    """

    edges: np.ndarray  # (n + 1,)
    counts: np.ndarray  # (n,)
    confidence: np.ndarray  # (n,)
    accuracy: np.ndarray  # (n,)

    @property
    def n_samples(self) -> int:
        return int(self.counts.sum())

    @property
    def ece(self) -> float:
        """Expected calibration error: the bins' ``|accuracy - confidence|`` weighted by size."""
        used = self.counts > 0
        if not used.any():
            return math.nan
        gaps = np.abs(self.accuracy[used] - self.confidence[used])
        return float((self.counts[used] * gaps).sum() / self.counts.sum())


def reliability_bins(
    probabilities: ArrayLike, labels: ArrayLike, n_bins: int = N_BINS
) -> ReliabilityBins:
    """Bin ``(N, C)`` probabilities by their top-class confidence (see :class:`ReliabilityBins`);
    a sample is right when its argmax is its label."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (N, C), got shape {p.shape}")
    _, y = _logits_and_labels(np.zeros(p.shape), labels)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    confidence = p.max(axis=1) if len(p) else np.zeros(0)
    right = (p.argmax(axis=1) == y) if len(p) else np.zeros(0, bool)
    # bin i holds (edges[i], edges[i + 1]]: the count of inner edges strictly below it
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, n_bins) / counts
        accuracy = np.bincount(index, right.astype(float), n_bins) / counts
    return ReliabilityBins(edges, counts, mean_confidence, accuracy)


def expected_calibration_error(
    probabilities: ArrayLike, labels: ArrayLike, n_bins: int = N_BINS
) -> float:
    """ECE of ``(N, C)`` probabilities on ``(N,)`` labels with ``n_bins`` equal-width bins."""
    return reliability_bins(probabilities, labels, n_bins).ece


@dataclass(frozen=True)
class FoldCalibration:
    """Per fold: the temperature fitted on the *other* folds, and the fold's ECE before and
    after dividing its logits by that temperature. ``temperature`` is the one fitted on every
    fold together (what a model trained on all of them is given)."""

    fold_temperatures: list[float]
    ece_uncalibrated: list[float]
    ece_calibrated: list[float]
    temperature: float
    n_samples: int


def leave_one_fold_out(
    logits_by_fold: Sequence[ArrayLike],
    labels_by_fold: Sequence[ArrayLike],
    n_bins: int = N_BINS,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> FoldCalibration:
    """Calibrate each fold with a temperature fitted on the out-of-fold logits of the others.

    With a single fold there are no other folds: its calibrated ECE and its temperature are
    NaN (not logged), while ``temperature`` is still fitted on it.
    """
    if len(logits_by_fold) != len(labels_by_fold) or not logits_by_fold:
        raise ValueError("leave_one_fold_out needs one labels array per logits array, >= 1 fold")
    folds = [_logits_and_labels(z, y) for z, y in zip(logits_by_fold, labels_by_fold, strict=True)]
    widths = {z.shape[1] for z, _ in folds}
    if len(widths) != 1:
        raise ValueError(f"every fold needs the same number of classes, got {sorted(widths)}")
    fold_t, before, after = [], [], []
    for k, (z, y) in enumerate(folds):
        before.append(expected_calibration_error(softmax(z), y, n_bins) if len(y) else math.nan)
        others = [fold for j, fold in enumerate(folds) if j != k]
        t = math.nan
        if others:
            other_z = np.concatenate([o[0] for o in others])
            other_y = np.concatenate([o[1] for o in others])
            if _scorable(other_z, other_y).any():
                t = fit_temperature(other_z, other_y, bounds)
        fold_t.append(t)
        calibrated = math.nan
        if math.isfinite(t) and len(y):
            calibrated = expected_calibration_error(softmax(z, t), y, n_bins)
        after.append(calibrated)
    all_z = np.concatenate([z for z, _ in folds])
    all_y = np.concatenate([y for _, y in folds])
    return FoldCalibration(
        fold_temperatures=fold_t,
        ece_uncalibrated=before,
        ece_calibrated=after,
        temperature=fit_temperature(all_z, all_y, bounds),
        n_samples=len(all_y),
    )


def bundle_record(calibrations: Mapping[str, FoldCalibration]) -> dict[str, Any] | None:
    """What a model bundle stores (``ModelBundle.calibration``), ``{head: FoldCalibration}`` in:
    plain floats and strings, so ``torch.load(weights_only=True)`` reads it. ``None`` when no
    head was calibrated."""
    if not calibrations:
        return None
    unknown = sorted(set(calibrations) - set(HEADS))
    if unknown:
        raise ValueError(f"calibration heads must be among {HEADS}, got {unknown}")

    def mean(values: list[float]) -> float | None:
        defined = [v for v in values if math.isfinite(v)]
        return float(np.mean(defined)) if defined else None

    return {
        "method": METHOD,
        "n_bins": N_BINS,
        "temperature": {h: float(c.temperature) for h, c in calibrations.items()},
        "ece_uncalibrated": {h: mean(c.ece_uncalibrated) for h, c in calibrations.items()},
        "ece_calibrated": {h: mean(c.ece_calibrated) for h, c in calibrations.items()},
        "n_samples": {h: int(c.n_samples) for h, c in calibrations.items()},
        "n_folds": {h: len(c.ece_uncalibrated) for h, c in calibrations.items()},
    }


def head_temperatures(calibration: Mapping[str, Any] | None) -> dict[str, float]:
    """The temperature of each calibrated head of a bundle's ``calibration`` record; empty for
    a bundle without one (saved before calibration existed, or trained without it).

    Raises:
        ValueError: the record is not a temperature-scaling record this code can apply.
    """
    if calibration is None:
        return {}
    if not isinstance(calibration, Mapping) or calibration.get("method") != METHOD:
        method = calibration.get("method") if isinstance(calibration, Mapping) else calibration
        raise ValueError(f"calibration method must be {METHOD!r}, got {method!r}")
    temperatures = calibration.get("temperature")
    if not isinstance(temperatures, Mapping):
        raise ValueError("calibration needs a {head: temperature} mapping under 'temperature'")
    out = {}
    for head, value in temperatures.items():
        if head not in HEADS:
            raise ValueError(f"calibration head {head!r} is not one of {', '.join(HEADS)}")
        out[str(head)] = _check_temperature(value)
    return out

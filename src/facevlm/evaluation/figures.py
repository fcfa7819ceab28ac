"""Report figures and ablation tables: confusion matrices, training curves, embedding maps,
reliability diagrams.

Every function builds a :class:`matplotlib.figure.Figure` directly instead of going through
``pyplot``: no backend is selected and no global figure registry grows, so nodes can run
headless (the figure renders with the Agg canvas on ``savefig``) and a long pipeline does not
leak figures. The catalog's figure files and the model's MLflow run save them, each figure
drawn once (:mod:`facevlm.datasets.figure_files`).

The PCA projection uses numpy's SVD, so the default embedding plot needs no extra dependency;
``method="tsne"`` imports scikit-learn when asked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from facevlm.evaluation.calibration import ReliabilityBins
from facevlm.evaluation.metrics import label_indices

_INDEX_COLUMNS = ("fold", "epoch")


def confusion_matrix_figure(
    confusion: Sequence[Sequence[float]] | np.ndarray,
    classes: Sequence[str],
    normalise: bool = True,
    title: str | None = None,
) -> Figure:
    """Heat map of a confusion matrix (rows = true class, columns = predicted), cells annotated.

    With ``normalise`` each row is divided by its total, so the diagonal reads as per-class
    recall; a class without samples shows an empty row. Returns a figure with two axes: the
    matrix and its colour bar.
    """
    matrix = np.asarray(confusion, dtype=float)
    n = len(classes)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion has shape {matrix.shape}, expected ({n}, {n}) for {n} classes")
    if normalise:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.full_like(matrix, np.nan), where=totals > 0)

    size = max(4.0, 0.7 * n + 2.0)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.add_subplot()
    top = 1.0 if normalise else max(float(np.nanmax(matrix, initial=0.0)), 1.0)
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=top)
    fig.colorbar(image, ax=ax, label="fraction of true class" if normalise else "count")
    ax.set_xticks(range(n), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        if math.isnan(value):
            continue
        text = f"{value:.2f}" if normalise else f"{value:.0f}"
        colour = "white" if value > 0.6 * top else "black"
        ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set_title(
        title or ("confusion matrix (row-normalised)" if normalise else "confusion matrix")
    )
    return fig


def training_curves_figure(
    history: pd.DataFrame, metrics: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """One panel per metric: a thin line per fold and the mean over folds per epoch, bold.

    Args:
        history: long table with columns ``fold``, ``epoch`` and one column per metric (e.g.
            ``train/loss``, ``val/accuracy``); NaN where a metric was not computed that epoch.
        metrics: the metric columns to draw; default all numeric columns but fold and epoch.
    """
    missing = [c for c in _INDEX_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"history lacks column(s) {missing}; it has {list(history.columns)}")
    if metrics is None:
        metrics = [
            c
            for c in history.columns
            if c not in _INDEX_COLUMNS and pd.api.types.is_numeric_dtype(history[c])
        ]
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in history.columns]
    if unknown:
        raise ValueError(f"history has no metric column(s) {unknown}")
    if not metrics:
        raise ValueError("history has no metric column to draw")

    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(metrics) :]:
        fig.delaxes(ax)
    for ax, metric in zip(axes, metrics, strict=False):
        for fold, rows in history.groupby("fold", sort=True):
            rows = rows[["epoch", metric]].dropna().sort_values("epoch")
            ax.plot(rows["epoch"], rows[metric], linewidth=0.8, alpha=0.45, label=f"fold {fold}")
        mean = history.groupby("epoch", sort=True)[metric].mean().dropna()
        ax.plot(mean.index, mean.to_numpy(), color="black", linewidth=2.0, label="mean")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if history["fold"].nunique() <= 10:
        axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def pca_2d(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of ``(N, D)`` embeddings, by SVD of the centred data.

    Returns:
        The ``(N, 2)`` projection and the fraction of variance each component explains. The
        sign of each component is fixed (largest loading positive) so reruns draw the same
        picture; with ``D < 2`` the missing component is zero.
    """
    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {x.shape}")
    x = x - x.mean(axis=0)
    _, singular, components = np.linalg.svd(x, full_matrices=False)
    components = components[:2]
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    projection = np.zeros((x.shape[0], 2))
    projection[:, : len(components)] = x @ components.T
    variance = singular**2
    ratio = np.zeros(2)
    if variance.sum() > 0:
        ratio[: len(components)] = variance[:2] / variance.sum()
    return projection, ratio


def project_2d(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(N, 2)`` map of the embeddings by ``pca`` (numpy) or ``tsne`` (scikit-learn)."""
    if method == "pca":
        return pca_2d(embeddings)[0]
    if method == "tsne":
        from sklearn.manifold import TSNE  # only this option needs scikit-learn

        x = np.asarray(embeddings, dtype=float)
        perplexity = float(min(30.0, max(1.0, (len(x) - 1) / 3)))
        return TSNE(n_components=2, perplexity=perplexity, random_state=seed).fit_transform(x)
    raise ValueError(f"unknown projection method {method!r}; expected 'pca' or 'tsne'")


def embedding_figure(
    embeddings: np.ndarray,
    labels: Sequence[Any],
    classes: Sequence[str],
    method: str = "pca",
    seed: int = 0,
    title: str | None = None,
) -> Figure:
    """2-D map of ``(N, D)`` embeddings, one colour per true expression.

    Args:
        labels: the true class of each row, as names or indices into ``classes``.
        method: ``pca`` (default, deterministic) or ``tsne``.
    """
    x = np.asarray(embeddings, dtype=float)
    y = label_indices(labels, classes, "labels")
    if x.ndim != 2 or len(y) != len(x):
        raise ValueError(f"embeddings shape {x.shape} does not match {len(y)} labels")
    if method == "pca":
        points, ratio = pca_2d(x)
        axis_labels = [f"PC {k + 1} ({100 * r:.0f}% variance)" for k, r in enumerate(ratio)]
    else:
        points = project_2d(x, method, seed)
        axis_labels = [f"{method} 1", f"{method} 2"]

    fig = Figure(figsize=(6.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    palette = [cmap(k % cmap.N) for k in range(len(classes))]
    for k, name in enumerate(classes):
        mask = y == k
        if mask.any():
            ax.scatter(*points[mask].T, s=14, alpha=0.8, color=palette[k], label=name)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.legend(fontsize=8, markerscale=1.5, loc="best")
    ax.set_title(title or f"embeddings ({method.upper() if method == 'pca' else method})")
    return fig


def reliability_figure(
    curves: Mapping[str, tuple[ReliabilityBins, ReliabilityBins]], title: str | None = None
) -> Figure:
    """Reliability diagram: one panel per evaluation, accuracy against mean confidence in each
    confidence bin, before and after calibration, with the diagonal a calibrated model follows.

    Args:
        curves: ``{evaluation: (before, after)}`` bins (e.g.
            :meth:`facevlm.experiments.results.CrossValidationResult.reliability`). Empty: a
            figure that says no evaluation kept logits, so the report still has its file.

    A bin's marker area grows with its share of the samples; bar outlines show each bin's
    width, so an empty bin is visible as a gap. The legend gives each curve's ECE.
    """
    n = max(1, len(curves))
    fig = Figure(figsize=(max(6.5, 4.6 * n), 4.6), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False).ravel()
    if not curves:
        axes[0].text(0.5, 0.5, "no evaluation kept logits", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, (evaluation, pair) in zip(axes, curves.items(), strict=False):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
        for bins, name, colour in zip(
            pair, ("uncalibrated", "temperature-scaled"), ("tab:red", "tab:blue"), strict=True
        ):
            used = bins.counts > 0
            widths = np.diff(bins.edges)
            ax.bar(
                bins.edges[:-1][used],
                bins.accuracy[used],
                width=widths[used],
                align="edge",
                fill=False,
                edgecolor=colour,
                linewidth=0.6,
                alpha=0.5,
            )
            share = bins.counts[used] / max(bins.n_samples, 1)
            ax.plot(
                bins.confidence[used],
                bins.accuracy[used],
                color=colour,
                linewidth=1.5,
                label=f"{name} (ECE {bins.ece:.3f})",
            )
            ax.scatter(bins.confidence[used], bins.accuracy[used], s=10 + 200 * share, c=colour)
        ax.set_xlim(-0.02, 1.02)  # room for the markers of the top bin and of accuracy 1
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel("confidence (top-class probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{evaluation} (n = {pair[0].n_samples})")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def _flatten(run: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalars of ``run``; nested mappings become ``outer/inner``; sequences are dropped."""
    flat: dict[str, Any] = {}
    for key, value in run.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/"))
        elif value is None or isinstance(value, (str, bool, int, float, np.number)):
            flat[name] = value
    return flat


def comparison_table(
    runs: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] | None = None,
    name_key: str = "name",
) -> pd.DataFrame:
    """One row per run for ablation reports (e.g. plain vs augmented prompts).

    Args:
        runs: each a mapping with ``name_key`` and its results: flat MLflow-style metrics
            (``test/accuracy_mean``), an :func:`~facevlm.evaluation.metrics.aggregate_folds`
            output (nested dicts flatten to ``per_class_recall_mean/<class>``; lists such as
            the confusion matrix are dropped), and any descriptive fields (``prompts: plain``).
        metrics: columns to keep, in this order; default all, in first-seen order.

    Returns:
        A DataFrame indexed by run name; a value a run lacks is NaN.
    """
    if not runs:
        raise ValueError("comparison_table needs at least one run")
    rows: dict[str, dict[str, Any]] = {}
    for i, run in enumerate(runs):
        name = str(run.get(name_key, f"run {i}"))
        if name in rows:
            raise ValueError(f"two runs are named {name!r}")
        rows[name] = _flatten({k: v for k, v in run.items() if k != name_key})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = name_key
    if metrics is not None:
        absent = [m for m in metrics if m not in table.columns]
        if absent:
            raise ValueError(f"no run reports {absent}; columns are {list(table.columns)}")
        table = table[list(metrics)]
    return table


_MEAN = re.compile(r"^(?P<stem>.*)_mean$")


def format_mean_std(table: pd.DataFrame, digits: int = 3, scale: float = 1.0) -> pd.DataFrame:
    """Merge each ``<x>_mean``/``<x>_std`` column pair into one ``"mean ± std"`` text column.

    ``scale=100`` writes percentages. Other columns are kept as they are; the merged column is
    named ``<x>`` and takes the place of ``<x>_mean``.
    """
    out: dict[str, pd.Series] = {}
    for column in table.columns:
        match = _MEAN.match(str(column))
        std_column = f"{match['stem']}_std" if match else None
        if match and std_column in table.columns:
            mean, std = table[column] * scale, table[std_column] * scale
            out[match["stem"]] = pd.Series(
                [
                    "" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}"
                    for m, s in zip(mean, std, strict=True)
                ],
                index=table.index,
            )
        elif str(column).endswith("_std") and f"{str(column)[:-4]}_mean" in table.columns:
            continue
        else:
            out[str(column)] = table[column]
    return pd.DataFrame(out, index=table.index)

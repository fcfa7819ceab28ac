"""The training set of an experiment: rendered views, class labels, metadata and folds.

Both models start from the same place: the render set (one row per sample, V views each), the
protocol's fold table (one row per indexed scan, with the fold whose test split holds it) and
the list of classes. :func:`experiment_data` joins them once, keeps only samples whose class is
one of ``classes`` and whose scan the protocol selected, and resizes the views to the model's
input size so that training never resizes an image twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from facevlm.data.protocols import TRAIN_ONLY


@dataclass
class ExperimentData:
    """Samples ready for training: ``views`` ``(N, V, S, S, 3)`` uint8, labels, metadata, folds."""

    views: np.ndarray
    labels: np.ndarray  # (N,) int64 class indices into ``classes``
    samples: pd.DataFrame  # one row per sample: sample_id, subject, gender, age, ... , fold
    classes: list[str]

    @property
    def folds(self) -> list[int]:
        """The folds that have a test split, in order."""
        return sorted(int(f) for f in self.samples["fold"].unique() if f != TRAIN_ONLY)

    def split(self, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the training and test split of ``fold`` (subject-independent)."""
        fold_of = self.samples["fold"].to_numpy()
        return np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)


def resize_views(views: np.ndarray, size: int) -> np.ndarray:
    """``(N, V, H, W, 3)`` uint8 → ``(N, V, size, size, 3)`` uint8, antialiased, done once."""
    n, v, h, w, _ = views.shape
    if h == size and w == size:
        return views
    out = np.empty((n, v, size, size, 3), dtype=np.uint8)
    for start in range(0, n, 64):  # chunks keep the float copy small
        chunk = torch.from_numpy(views[start : start + 64]).reshape(-1, h, w, 3)
        chunk = chunk.permute(0, 3, 1, 2).float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True)
        resized = resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        out[start : start + 64] = resized.reshape(-1, v, size, size, 3).numpy()
    return out


def experiment_data(
    render_set: Any,
    fold_table: pd.DataFrame,
    classes: list[str],
    image_size: int,
    views: list[int] | None = None,
) -> ExperimentData:
    """Join renders and folds; keep samples of ``classes`` that the protocol selected.

    Args:
        render_set: a :class:`facevlm.datasets.RenderSet`.
        fold_table: the protocol's per-row fold table (``path``, ``fold``).
        classes: class names; ``expression`` values outside them are left out.
        image_size: the model's input side.
        views: indices of the render views to use (``None``: all) — the 1-view ablation.
    """
    fold_of_path = dict(zip(fold_table["path"].astype(str), fold_table["fold"], strict=True))
    samples = render_set.samples
    first_frame = samples["frame_paths"].map(lambda paths: str(list(paths)[0]))
    fold = first_frame.map(fold_of_path)
    keep = samples["expression"].isin(classes).to_numpy() & fold.notna().to_numpy()
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        raise ValueError(
            f"no rendered sample has a class in {classes} and a fold in the protocol's table; "
            f"rendered expressions: {sorted(samples['expression'].dropna().unique())}"
        )
    selected = (
        samples.iloc[rows].reset_index(drop=True).assign(fold=fold.iloc[rows].astype(int).values)
    )
    images = render_set.subset(keep).to_array()  # (N, V, H, W, 3)
    if views is not None:
        images = images[:, list(views)]
    labels = selected["expression"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    return ExperimentData(resize_views(images, image_size), labels, selected, list(classes))

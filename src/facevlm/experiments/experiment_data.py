"""The training set of an experiment: rendered views, class labels, metadata and folds.

Both models start from the same place: the render set (one row per sample, V views each), the
protocol's fold table (one row per indexed scan, with the fold whose test split holds it) and
the list of classes. :func:`experiment_data` joins them once, keeps only samples whose class is
one of ``classes`` and whose scan the protocol selected, and resizes the views to the model's
input size so that training never resizes an image twice.

Nothing is loaded into memory for a render set that lives on disk: the views stay a lazy
:class:`~facevlm.scans.view_store.ViewArray` over the render set's ``views.npy`` (resized once into
a ``views_<S>px.npy`` beside it), and ``data.views[rows]`` is again lazy, so a fold's training set
costs a row index, not a copy. An in-memory render set (tests, notebooks) stays an array.

**Several render modalities** (``render.modality: texture+shaded``): the render set holds a row
per sample and modality (column ``modality``), and so does the experiment data. Folds are joined
by scan file, so the rows of one scan share its fold and no scan is in a training split under
one modality and in the test split under another. Evaluation works on rows and so scores every
held-out scan in each modality; training takes one row per scan through
:meth:`ExperimentData.training_views`, which shows each scan in a modality drawn at every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facevlm.digests import fingerprint_hasher
from facevlm.models.multiview_data import ViewChoices
from facevlm.scans.protocols import fold_ids
from facevlm.scans.view_store import ViewArray, array_fingerprint, resize_chunk

#: Column of the samples that names each row's render modality (a render set of several).
MODALITY = "modality"


@dataclass
class ExperimentData:
    """Samples ready for training: ``views`` ``(N, V, S, S, 3)`` uint8 (an array, or a lazy
    :class:`ViewArray` read from disk per batch), labels, metadata, folds."""

    views: np.ndarray | ViewArray
    labels: np.ndarray  # (N,) int64 class indices into ``classes``
    samples: pd.DataFrame  # one row per sample: sample_id, subject, gender, age, ... , fold
    classes: list[str]

    @property
    def modalities(self) -> list[str]:
        """The render modalities of the rows, in order (``[]``: one, not recorded per row)."""
        if MODALITY not in self.samples.columns:
            return []
        return list(dict.fromkeys(self.samples[MODALITY].astype(str)))

    def training_views(
        self, rows: np.ndarray
    ) -> tuple[np.ndarray | ViewArray | ViewChoices, np.ndarray]:
        """What a model trains on for ``rows``: their views and the rows whose labels, ids and
        metadata go with them. With one modality, ``(views[rows], rows)``. With several, one
        entry per scan (its row of the first modality) whose views are :class:`ViewChoices`
        over the scan's rows in every modality: each access draws one, so an epoch has as
        many steps as with one modality and every scan is seen in each, at random."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.modalities) < 2:
            return self.views[rows], rows
        modalities, aligned = modality_rows(self.samples, rows)
        return ViewChoices([self.views[r] for r in aligned], modalities), aligned[0]

    @property
    def folds(self) -> list[int]:
        """The folds that have a test split, in order."""
        return fold_ids(self.samples)

    def split(self, fold: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the training and test split of ``fold`` (subject-independent)."""
        fold_of = self.samples["fold"].to_numpy()
        return np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)

    def fingerprint(self) -> str:
        """A digest of the views' content, the labels, the sample table and the classes: with
        the config and the prompts, what keys a training run's folder."""
        h = fingerprint_hasher()
        h.update(array_fingerprint(self.views).encode())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).data)
        h.update(pd.util.hash_pandas_object(self.samples.astype(str), index=False).to_numpy().data)
        h.update(repr(list(self.classes)).encode())
        return h.hexdigest()


def modality_rows(
    samples: pd.DataFrame, rows: np.ndarray | None = None
) -> tuple[list[str], list[np.ndarray]]:
    """The modalities of ``rows`` of a table with a ``modality`` column (all rows: ``None``)
    and, per modality, the rows of the same samples in the same order: entry k of every array
    is one sample (matched by ``sample_id``), in the order of the first modality's rows.

    Raises:
        ValueError: a sample of ``rows`` lacks a modality the others have (the render stage
            keeps only samples rendered in every one).
    """
    rows = np.arange(len(samples)) if rows is None else np.asarray(rows, dtype=np.int64)
    modality = samples[MODALITY].astype(str).to_numpy()[rows]
    ids = samples["sample_id"].astype(str).to_numpy()[rows]
    modalities = list(dict.fromkeys(modality))
    first = rows[modality == modalities[0]]
    order = samples["sample_id"].astype(str).to_numpy()[first]
    aligned = [first]
    for other in modalities[1:]:
        row_of = dict(zip(ids[modality == other], rows[modality == other], strict=True))
        missing = [sample for sample in order if sample not in row_of]
        if missing or len(row_of) != len(order):
            raise ValueError(
                f"samples not rendered in every modality {modalities}: e.g. "
                f"{(missing or sorted(set(row_of) - set(order)))[:3]}"
            )
        aligned.append(np.array([row_of[sample] for sample in order], dtype=np.int64))
    return modalities, aligned


def resize_views(views: np.ndarray | ViewArray, size: int) -> np.ndarray | ViewArray:
    """``(N, V, H, W, 3)`` uint8 → ``(N, V, size, size, 3)`` uint8, antialiased, done once.

    A :class:`ViewArray` stays lazy (its resized copy is a file beside it, see
    :meth:`ViewArray.resized`); an array is resized in chunks that keep the float copy small.
    """
    if isinstance(views, ViewArray):
        return views.resized(size)
    n, v, h, w, _ = views.shape
    if h == size and w == size:
        return views
    out = np.empty((n, v, size, size, 3), dtype=np.uint8)
    for start in range(0, n, 64):
        out[start : start + 64] = resize_chunk(views[start : start + 64], size)
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
    images = render_set.subset(keep).view_array()  # (N, V, H, W, 3), lazy for a set on disk
    if views is not None:
        images = (
            images.select_views(list(views))
            if isinstance(images, ViewArray)
            else images[:, list(views)]
        )
    labels = selected["expression"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    return ExperimentData(resize_views(images, image_size), labels, selected, list(classes))

"""The face reader on a set of renders: the landmarker's scores of every sample, and the held-out
readings that calibrate when to answer.

A render set's samples are read once (:func:`read_face_actions`, a table that is versioned in
the catalog beside the renders), and each model's folds then fit their heads on it
(:func:`held_out_readings`): a fold's faces are read by a head that never saw their subjects, as
the model's own held-out predictions are made, so that agreement on the held-out folds is what
agreement on a new person's face will be.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from facevlm.face_reader.head import NEUTRAL, FaceReaderHead
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES, FaceLandmarker

#: Columns of a face-actions table besides the 51 scores.
ID_COLUMNS = ("sample_id", "subject", "expression", "found")


def average_views(scores: np.ndarray) -> np.ndarray:
    """``(N, V, 51)`` scores of several views of each face → ``(N, 51)``: their mean over the
    views where a face was found (NaN where none was)."""
    scores = np.asarray(scores, np.float64)
    found = ~np.isnan(scores[..., 0])
    total = np.where(found[..., None], scores, 0.0).sum(axis=1)
    count = found.sum(axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def read_views(landmarker: FaceLandmarker, views: np.ndarray, read: Sequence[int]) -> np.ndarray:
    """One face's ``(V, H, W, 3)`` views → ``(51,)`` scores averaged over the views ``read``
    (NaN: no face found in any)."""
    return average_views(landmarker.read_images(views[v] for v in read)[None])[0]


def read_face_actions(
    views,
    samples: pd.DataFrame,
    read: Sequence[int] = (0,),
    chunk: int = 64,
    still: Sequence[bool] | None = None,
) -> pd.DataFrame:
    """The scores of every sample of a render set: ``views`` is its ``(N, V, H, W, 3)`` array
    (or a store read a chunk at a time), ``samples`` its table (``sample_id``, ``subject``,
    ``expression``). One row per sample: the :data:`ID_COLUMNS` and one column per blend shape
    (NaN where the landmarker found no face in any view read). ``still``: which samples are
    renders of a still face; the others (a sequence's motion map, its dynamic image) are not
    read, as no face is there to read (default: every sample)."""
    still = np.ones(len(samples), bool) if still is None else np.asarray(still, bool)
    unread = np.full(len(BLENDSHAPE_NAMES), np.nan)
    rows = []
    with FaceLandmarker() as landmarker:
        for start in range(0, len(samples), chunk):
            block = np.asarray(views[start : start + chunk])
            rows.extend(
                read_views(landmarker, sample, read) if face else unread
                for sample, face in zip(block, still[start : start + chunk], strict=True)
            )
    scores = np.stack(rows) if rows else np.zeros((0, len(BLENDSHAPE_NAMES)))
    table = samples[["sample_id", "subject", "expression"]].reset_index(drop=True).astype(str)
    table["found"] = ~np.isnan(scores).any(axis=1)
    return pd.concat([table, pd.DataFrame(scores, columns=list(BLENDSHAPE_NAMES))], axis=1)


def scores_of(table: pd.DataFrame) -> np.ndarray:
    """The ``(N, 51)`` scores of a face-actions table."""
    return table[list(BLENDSHAPE_NAMES)].to_numpy(np.float64)


def learnable(table: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """The rows a head learns from: the model's ``classes`` and resting faces, found."""
    return table[table["expression"].isin([*classes, NEUTRAL]) & table["found"].astype(bool)]


def fit_head(table: pd.DataFrame, classes: Sequence[str], c: float = 1.0) -> FaceReaderHead:
    """A head on every learnable row of ``table`` (:func:`learnable`)."""
    rows = learnable(table, classes)
    return FaceReaderHead.fit(scores_of(rows), rows["expression"].to_numpy(), c)


def held_out_readings(
    table: pd.DataFrame,
    classes: Sequence[str],
    folds: Sequence[tuple[Sequence[str], Sequence[str]]],
    c: float = 1.0,
) -> tuple[np.ndarray, list[str]]:
    """Each fold's test faces read by a head fitted on the faces of the *other* subjects.

    ``folds``: per fold, ``(test subjects, test sample ids)``, in the order the model's held-out
    predictions are concatenated. Returns ``(N, K)`` probabilities in that order (NaN rows: no
    face found, or a sample the table lacks) and the heads' classes (every fold's head has the
    classes of the full table, or the fold is refused)."""
    rows = learnable(table, classes)
    by_id = table.set_index("sample_id")
    out, head_classes = [], None
    for subjects, sample_ids in folds:
        train = rows[~rows["subject"].isin(set(map(str, subjects)))]
        head = FaceReaderHead.fit(scores_of(train), train["expression"].to_numpy(), c)
        if head_classes is None:
            head_classes = head.classes
        if head.classes != head_classes:
            raise ValueError(
                f"a fold's face reader learned {head.classes}, another {head_classes}: each "
                "fold's other subjects must show every expression"
            )
        ids = [str(s) for s in sample_ids]
        known = [s in by_id.index for s in ids]
        scores = np.full((len(ids), len(BLENDSHAPE_NAMES)), np.nan)
        if any(known):
            scores[np.array(known)] = scores_of(by_id.loc[[s for s in ids if s in by_id.index]])
        out.append(head.probabilities(scores))
    return np.concatenate(out), list(head_classes or [])

"""4D sequences as one sample: the selected frames of a sequence stacked as extra views.

The render stage turns a sequence into one sample per selected frame (``render.frames:
uniform:K``) or into one sample of dynamic images (``dynamic_image``). Dynamic FER classifies the
*sequence*, so with ``experiment.data.frames: views`` the K frame-samples of each sequence
become one sample whose ``K × V`` images (frame-major: every view of the first frame, then of the
second, ...) all go through the shared image encoder and the fusion head, like the views of a
static scan. Frame order is kept, so a learned fusion can weigh onset, apex and offset
differently. Static scans and pooled dynamic images pass through unchanged. The frames become
one sample in :func:`facevlm.render.frames.frames_to_samples`, as in the render pipeline and the
predictor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from facevlm.experiments.experiment_data import MODALITY, ExperimentData
from facevlm.render.frames import frames_to_samples
from facevlm.render.sampling import stacked_sample_id

#: ``experiment.data.frames`` values: each rendered frame a sample, or frames stacked as views.
FRAME_MODES = ("samples", "views")


def stack_sequence_frames(data: ExperimentData) -> ExperimentData:
    """One sample per sequence, its frames' views concatenated in frame order.

    Every sequence must have the same number of selected frames (``uniform:K`` gives K to
    each; a clip whose labelled apex was added holds K + 1, so the shortest count is used,
    keeping the frames nearest the ends and the apex). Raises when the data holds both
    sequences and static scans, which a model with one fusion head cannot mix.
    """
    samples = data.samples
    if "sequence" not in samples or samples["sequence"].isna().all():
        return data
    # a pooled sample (a motion map, a dynamic image) is already the whole sequence in one set
    # of views: it keeps its id, which the face reader's reading of its apex frame is keyed by
    if "pooled" in samples and samples["pooled"].astype(bool).all():
        return data
    if samples["sequence"].isna().any():
        raise ValueError(
            "experiment.data.frames is 'views' but the protocol selects static scans and "
            "sequences together; restrict protocol.datasets to the 4D dataset"
        )
    # a sequence rendered in several modalities is one sample per modality, like a scan
    by = ["dataset", "sequence", *([MODALITY] if MODALITY in samples.columns else [])]
    order = samples.assign(_row=np.arange(len(samples)))
    if MODALITY in by:  # grouped in the data's order of modalities, not alphabetically
        order[MODALITY] = pd.Categorical(order[MODALITY], list(dict.fromkeys(order[MODALITY])))
    order = order.sort_values([*by, "frame"], kind="stable")
    groups = [g["_row"].to_numpy() for _, g in order.groupby(by, sort=False, observed=True)]
    k = min(len(g) for g in groups)
    rows = [_keep_spread(g, k) for g in groups]
    views = np.stack([frames_to_samples(np.asarray(data.views[g]), as_views=True)[0] for g in rows])
    first = [g[0] for g in rows]
    stacked = samples.iloc[first].reset_index(drop=True).copy()
    stacked["sample_id"] = [stacked_sample_id(r.dataset, r.sequence) for r in stacked.itertuples()]
    stacked["frames"] = [[int(f) for f in samples["frame"].iloc[g]] for g in rows]
    if any(samples["fold"].iloc[g].nunique() > 1 for g in rows):
        raise ValueError("a sequence's frames lie in different folds: the fold table is per file")
    return ExperimentData(views, data.labels[first], stacked, data.classes)


def _keep_spread(rows: np.ndarray, k: int) -> np.ndarray:
    """``k`` of ``rows`` spread evenly from the first to the last (all when ``len == k``)."""
    if len(rows) == k:
        return rows
    picks = np.round(np.linspace(0, len(rows) - 1, k)).astype(int)
    return rows[picks]


def sample_frames_record(data: ExperimentData, mode: str) -> dict[str, Any]:
    """How the samples of ``data`` were made of a sequence's frames, as a model bundle records
    it (:data:`facevlm.models.model_bundle.SAMPLE_FRAMES`): ``{"frames": mode}``
    (``experiment.data.frames``) and, when :func:`stack_sequence_frames` stacked the frames of
    each sequence into one sample, their number (``frames_per_sample``: K of ``render.frames:
    uniform:K``, or the shortest count kept).

    Why: the model's ``n_views`` is then frames x views, and a prediction must make the same
    sample of a new sequence; neither the render record nor the model config says that alone.
    """
    record: dict[str, Any] = {"frames": str(mode)}
    if mode == "views" and "frames" in data.samples.columns and len(data.samples):
        record["frames_per_sample"] = len(data.samples["frames"].iloc[0])
    return record

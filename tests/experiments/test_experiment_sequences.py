"""A sequence's selected frames become one sample whose views are frames × render views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.sequences import stack_sequence_frames

N_VIEWS, SIZE = 2, 4


def _frames(
    sequences: dict[str, list[int]], fold_of: dict[str, int] | None = None
) -> ExperimentData:
    """One row per (sequence, frame), rows shuffled; each image is filled with a code that says
    which sequence, frame and view it is."""
    rows = [
        {
            "dataset": "d",
            "sequence": name,
            "frame": f,
            "subject": name[:2],
            "expression": "happiness",
        }
        for name, frames in sequences.items()
        for f in frames
    ]
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    samples = pd.DataFrame(rows)
    samples["sample_id"] = [f"{r['sequence']}/{r['frame']}" for r in rows]
    samples["fold"] = [(fold_of or {}).get(r["sequence"], 0) for r in rows]
    views = np.zeros((len(rows), N_VIEWS, SIZE, SIZE, 3), np.uint8)
    for i, r in enumerate(rows):
        for v in range(N_VIEWS):
            views[i, v] = 100 * list(sequences).index(r["sequence"]) + 10 * r["frame"] + v
    return ExperimentData(views, np.zeros(len(rows), np.int64), samples, ["happiness"])


def test_frames_are_stacked_frame_major_in_frame_order():
    data = _frames({"s1/happy": [0, 5, 9], "s2/happy": [1, 4, 8]})

    stacked = stack_sequence_frames(data)

    assert stacked.views.shape == (2, 3 * N_VIEWS, SIZE, SIZE, 3)
    codes = stacked.views[:, :, 0, 0, 0].tolist()
    assert codes[0] == [0, 1, 50, 51, 90, 91]
    assert codes[1] == [110, 111, 140, 141, 180, 181]
    assert stacked.samples["frames"].tolist() == [[0, 5, 9], [1, 4, 8]]
    assert stacked.samples["sample_id"].tolist() == ["d/s1/happy/frames", "d/s2/happy/frames"]


def test_a_sequence_with_an_extra_apex_frame_keeps_as_many_frames_as_the_others():
    data = _frames({"s1/a": [0, 3, 6, 9], "s2/a": [0, 4, 8]})

    stacked = stack_sequence_frames(data)

    assert stacked.views.shape[1] == 3 * N_VIEWS
    assert stacked.samples["frames"].tolist() == [[0, 6, 9], [0, 4, 8]], "first, middle, last"


def test_static_scans_pass_through_unchanged():
    data = _frames({"s1/a": [0, 1]})
    data.samples["sequence"] = None

    assert stack_sequence_frames(data) is data


def test_static_scans_and_sequences_together_are_refused():
    data = _frames({"s1/a": [0, 1], "s2/a": [0, 1]})
    data.samples.loc[0, "sequence"] = None

    with pytest.raises(ValueError, match="static scans and sequences"):
        stack_sequence_frames(data)


def test_frames_of_one_sequence_in_two_folds_are_refused():
    data = _frames({"s1/a": [0, 1, 2]})
    data.samples.loc[0, "fold"] = 1

    with pytest.raises(ValueError, match="different folds"):
        stack_sequence_frames(data)


def test_a_sequence_in_two_modalities_is_one_stacked_sample_per_modality():
    data = _frames({"s1/happy": [0, 5, 9], "s2/happy": [1, 4, 8]})
    samples = pd.concat(
        [data.samples.assign(modality=m) for m in ("texture", "shaded")], ignore_index=True
    )
    shaded = data.views + 1  # the shaded rows' codes are one more
    mixed = ExperimentData(
        np.concatenate([data.views, shaded]),
        np.zeros(len(samples), np.int64),
        samples,
        ["happiness"],
    )

    stacked = stack_sequence_frames(mixed)

    assert stacked.samples["modality"].tolist() == ["texture", "shaded", "texture", "shaded"]
    assert stacked.samples["sample_id"].tolist() == [
        "d/s1/happy/frames", "d/s1/happy/frames", "d/s2/happy/frames", "d/s2/happy/frames"
    ]  # fmt: skip
    codes = stacked.views[:, :, 0, 0, 0].tolist()
    assert codes[0] == [0, 1, 50, 51, 90, 91] and codes[1] == [1, 2, 51, 52, 91, 92]
    views, rows = stacked.training_views(np.arange(4))
    assert len(views) == 2 and stacked.samples["modality"].iloc[rows].tolist() == ["texture"] * 2

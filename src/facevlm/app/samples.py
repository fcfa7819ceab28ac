"""The built-in samples the app offers: scans and sequences of the project's scan index.

After ``kedro run`` the scan index lists the built-in synthetic set (or whatever dataset was
ingested). Offering a few of its scans lets a newcomer see a prediction before having a scan
of their own: one static scan per subject and expression (the strongest intensity), and every
4D sequence, each read from where ingest found it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from facevlm.inference.inputs import PredictionInput, ScanInput, SequenceInput

#: At most this many samples are listed (the selectbox stays usable).
MAX_SAMPLES = 300


def builtin_samples(index: pd.DataFrame | None) -> dict[str, PredictionInput]:
    """``{label: input}``: static scans first, then sequences, in index order."""
    if index is None or index.empty:
        return {}
    samples: dict[str, PredictionInput] = {}
    static = index[index["sequence"].isna()]
    if "intensity" in static:
        static = static.sort_values("intensity", ascending=False, kind="stable", na_position="last")
    static = static.drop_duplicates(["dataset", "subject", "expression"]).sort_index()
    for row in static.itertuples(index=False):
        label = f"{row.dataset} · {row.subject} · {row.expression} · {Path(row.path).name}"
        samples[label] = ScanInput(Path(row.path), label)
    for sequence, frames in index[index["sequence"].notna()].groupby("sequence", sort=False):
        frames = frames.sort_values("frame")
        first = frames.iloc[0]
        label = f"{first.dataset} · {sequence} · {first.expression} · {len(frames)} frames"
        samples[label] = SequenceInput(tuple(Path(p) for p in frames["path"]), label)
    return dict(list(samples.items())[:MAX_SAMPLES])

"""Nodes of the ``face_reader`` pipeline: thin wrappers around :mod:`facevlm.face_reader`."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from facevlm.datasets.render_set import MODALITY, RenderSet
from facevlm.face_reader.reading import read_face_actions

logger = logging.getLogger(__name__)

#: The render modality the reader prefers in a set of several: a shaded render looks alike for
#: textured and untextured scans, so it is what every new scan can be read in.
READ_MODALITY = "shaded"


def view_indices(renders: RenderSet, views: list[str] | None) -> list[int]:
    """The indices of the render views named ``views`` (None: every view)."""
    if views is None:
        return list(range(len(renders.view_names)))
    missing = [v for v in views if v not in renders.view_names]
    if missing:
        raise ValueError(
            f"face_reader.views names {missing}, but the renders have {renders.view_names}"
        )
    return [renders.view_names.index(v) for v in views]


def read_render_face_actions(renders: RenderSet, parameters: dict[str, Any]) -> pd.DataFrame:
    """The landmarker's scores of every rendered sample, averaged over the views
    ``parameters["views"]`` names (null: all of them); in a set of several modalities, of its
    shaded renders; a pooled sample (a sequence's motion map) is not read: no face is found in
    it. Parquet does not keep a table's ``attrs``, so the views read are a column (``views``)
    every row shares."""
    if MODALITY in renders.samples.columns and (renders.samples[MODALITY] == READ_MODALITY).any():
        renders = renders.subset((renders.samples[MODALITY] == READ_MODALITY).to_numpy())
    read = view_indices(renders, parameters.get("views"))
    samples = renders.samples
    # a pooled sample (a sequence's motion map, dynamic image) shows no still face to read
    still = ~samples["pooled"].astype(bool) if "pooled" in samples else None
    start = time.perf_counter()
    table = read_face_actions(renders.view_array(), samples, read, still=still)
    table["views"] = ",".join(renders.view_names[i] for i in read)
    logger.info(
        "face reader: read %d renders (%d views each) in %.1f s; no face found in %d",
        len(table),
        len(read),
        time.perf_counter() - start,
        int((~table["found"]).sum()),
    )
    return table

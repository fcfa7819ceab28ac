"""Nodes of the ``face_reader`` pipeline: thin wrappers around :mod:`facevlm.face_reader`."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from facevlm.datasets.render_set import MODALITY, RenderSet
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES
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


def read_render_face_actions(
    renders: RenderSet, parameters: dict[str, Any], apex_stills: RenderSet | None = None
) -> pd.DataFrame:
    """The landmarker's scores of every rendered sample, averaged over the views
    ``parameters["views"]`` names (null: all of them); in a set of several modalities, of its
    shaded renders. A sequence is read from the still of its apex frame (``apex_stills``, the
    render stage's): a pooled sample (a motion map, a dynamic image), which shows no face, in
    its own row, and a sequence rendered frame by frame in a row of its own, under the id of
    its frames stacked as one sample. A pooled sample without an apex still says no face was
    found. Parquet does not keep a table's ``attrs``, so the views read are a column
    (``views``) every row shares."""
    if MODALITY in renders.samples.columns and (renders.samples[MODALITY] == READ_MODALITY).any():
        renders = renders.subset((renders.samples[MODALITY] == READ_MODALITY).to_numpy())
    read = view_indices(renders, parameters.get("views"))
    samples = renders.samples
    # a pooled sample (a sequence's motion map, dynamic image) shows no still face to read
    still = ~samples["pooled"].astype(bool) if "pooled" in samples else None
    start = time.perf_counter()
    table = read_face_actions(renders.view_array(), samples, read, still=still)
    n_apex = 0
    if apex_stills is not None and len(apex_stills):
        apex_read = view_indices(apex_stills, parameters.get("views"))
        n_apex = len(apex_stills)
        apex = read_face_actions(apex_stills.view_array(), apex_stills.samples, apex_read)
        table = with_apex_readings(table, apex)
    table["views"] = ",".join(renders.view_names[i] for i in read)
    logger.info(
        "face reader: read %d renders (%d views each) and %d sequences' apex stills in %.1f s; "
        "no face found in %d of %d rows",
        len(renders),
        len(read),
        n_apex,
        time.perf_counter() - start,
        int((~table["found"]).sum()),
        len(table),
    )
    return table


def with_apex_readings(table: pd.DataFrame, apex: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the readings of the apex stills ``apex`` in place of its rows of the same
    ``sample_id`` (a pooled sample's, unread), and the others (a sequence's stacked frames,
    which no render holds) added."""
    scores = ["found", *BLENDSHAPE_NAMES]
    by_id = apex.set_index("sample_id")
    hit = table["sample_id"].isin(by_id.index).to_numpy()
    table = table.copy()
    if hit.any():
        table.loc[hit, scores] = by_id.loc[table.loc[hit, "sample_id"], scores].to_numpy()
    new = apex[~apex["sample_id"].isin(table["sample_id"])]
    table = pd.concat([table, new[table.columns]], ignore_index=True)
    table["found"] = table["found"].astype(bool)
    return table

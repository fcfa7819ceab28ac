"""From a scan index to the samples that get rendered: one per static scan, K per 4D sequence.

The scan index has one row per *file* (a static scan, or one frame of a sequence). The models
see *samples*: a static scan is one sample; a sequence becomes one sample per selected frame
(``apex``, ``uniform:K``, ``onset_apex_offset``), or one sample whose views are pooled over its
frames (``dynamic_image``: dynamic images; ``magnified``: the magnified apex; ``surface_motion``:
the onset-to-apex surface motion painted on the apex). Micro-expression
clips with a labelled apex always include the apex frame (docs/methods.md: ``uniform:3`` plus the
apex for micro-expressions).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from facevlm.render.frames import PhaseLabels, apex_position, parse_frames, select_frames

#: The last part of a pooled sample's id, by frame mode.
_POOLED_SUFFIX = {
    "dynamic_image": "dynamic",
    "magnified": "magnified",
    "surface_motion": "surface_motion",
}

#: The last part of the id of a sequence's frames stacked as one sample.
STACKED_SUFFIX = "frames"
#: The columns of a render sample that give its sequence's apex frame: its number and its mesh
#: file (None: a static scan).
APEX_FRAME = "apex_frame"
APEX_PATH = "apex_path"

#: Index columns carried over to every sample (those present in the index).
SAMPLE_METADATA = (
    "dataset",
    "subject",
    "gender",
    "age",
    "ethnicity",
    "expression",
    "label_set",
    "intensity",
    "sequence",
    "face_source",
)


def _extra(value: Any) -> dict[str, Any]:
    """The index's ``extra`` column as a dict (it is stored as JSON text in parquet)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return json.loads(value)
    return {}


def _phase_labels(extra: dict[str, Any], frame_numbers: list[int]) -> PhaseLabels:
    """Labelled onset/apex/offset frame *numbers* converted to positions in the sorted frames."""
    positions = {number: pos for pos, number in enumerate(frame_numbers)}

    def position(key: str) -> int | None:
        value = extra.get(key)
        if value is None or pd.isna(value):
            return None
        return positions.get(int(value))

    return PhaseLabels(onset=position("onset"), apex=position("apex"), offset=position("offset"))


def plan_render_samples(
    index: pd.DataFrame, frames: str, datasets: list[str] | None = None
) -> pd.DataFrame:
    """One row per sample to render.

    Columns: ``sample_id``, the index metadata (:data:`SAMPLE_METADATA`), ``frame`` (frame
    number, or the first pooled frame, ``None`` for static scans), ``frame_paths`` (the mesh
    files to render: one, or all pooled frames), ``pooled`` (one image pooled from all the frames or not),
    ``apex_frame`` and ``apex_path`` (the number and mesh file of the sequence's apex frame,
    :func:`~facevlm.render.frames.apex_position`; ``None`` for static scans: the still the face
    reader reads of a sequence, :func:`apex_still_samples`),
    and ``face_pose`` (JSON, the pose ingest found; the same for every frame of a sequence)
    when the index has it.
    """
    spec = parse_frames(frames)
    if datasets:
        index = index[index["dataset"].isin(datasets)]
    meta = [c for c in SAMPLE_METADATA if c in index.columns]
    rows: list[dict[str, Any]] = []

    static = index[index["sequence"].isna()] if "sequence" in index else index
    for record in static.to_dict("records"):
        sample_id = f"{record['dataset']}/{record['subject']}/{_stem(record['path'])}"
        rows.append(
            {
                "sample_id": sample_id,
                **{c: record[c] for c in meta},
                "frame": None,
                "frame_paths": [str(record["path"])],
                "pooled": False,
                APEX_FRAME: None,
                APEX_PATH: None,
            }
        )

    if "sequence" in index:
        sequences = index[index["sequence"].notna()].sort_values(["dataset", "sequence", "frame"])
        for (dataset, sequence), frames_df in sequences.groupby(["dataset", "sequence"], sort=True):
            first = frames_df.iloc[0].to_dict()
            numbers = [int(f) for f in frames_df["frame"]]
            paths = [str(p) for p in frames_df["path"]]
            labels = _phase_labels(_extra(first.get("extra")), numbers)
            chosen = select_frames(len(paths), spec, labels)
            if spec.mode == "uniform" and labels.apex is not None and labels.apex not in chosen:
                chosen = sorted([*chosen, labels.apex])
            apex = apex_position(len(paths), labels)
            base = {c: first[c] for c in meta}
            base |= {APEX_FRAME: numbers[apex], APEX_PATH: paths[apex]}
            if spec.pooled:
                rows.append(
                    {
                        "sample_id": f"{dataset}/{sequence}/{_POOLED_SUFFIX[spec.mode]}",
                        **base,
                        "frame": numbers[chosen[0]],
                        "frame_paths": [paths[i] for i in chosen],
                        "pooled": True,
                    }
                )
                continue
            for i in chosen:
                rows.append(
                    {
                        "sample_id": f"{dataset}/{sequence}/{numbers[i]:04d}",
                        **base,
                        "frame": numbers[i],
                        "frame_paths": [paths[i]],
                        "pooled": False,
                    }
                )
    # the face's pose as ingest estimated it (one per sequence), rendered with every frame
    if "face_pose" in index.columns:
        pose_of = dict(zip(index["path"].astype(str), index["face_pose"], strict=True))
        for row in rows:
            pose = pose_of.get(row["frame_paths"][-1])
            row["face_pose"] = pose if isinstance(pose, str) else None
    columns = ["sample_id", *meta, "frame", "frame_paths", "pooled", APEX_FRAME, APEX_PATH]
    columns += ["face_pose"] if "face_pose" in index.columns else []
    samples = pd.DataFrame(rows, columns=columns)
    # nullable: static scans have no frame
    samples[["frame", APEX_FRAME]] = samples[["frame", APEX_FRAME]].astype("Int64")
    return samples


def stacked_sample_id(dataset: Any, sequence: Any) -> str:
    """The id of the one sample a sequence's rendered frames become when a model reads them
    stacked as views (``experiment.data.frames: views``): named here, beside the ids of the
    rendered samples, so that the face reader's reading of the sequence finds it."""
    return f"{dataset}/{sequence}/{STACKED_SUFFIX}"


def apex_still_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """The apex frame of each sequence of ``samples`` (:func:`plan_render_samples`'s table) as
    a still sample to render, one per sample id a sequence model can read the sequence as: a
    pooled sample's own id (a motion map, a dynamic image), and for a sequence rendered frame
    by frame the id of its frames stacked as one sample (:func:`stacked_sample_id`). The
    metadata is the sequence's, the one frame its apex (``apex_path``), not pooled.

    Why: a pooled sample shows no face the Face Landmarker can read, and a stack of frames is
    no single face, while the apex frame, where the expression is strongest, is one; read under
    the sequence sample's id, it gives the sequence models a face reader their folds find as
    the 3D models' folds find their scans'. A table without ``apex_path`` (planned before it
    was added) has no apex stills.
    """
    if APEX_PATH not in samples.columns or "pooled" not in samples.columns:
        return samples.iloc[:0].copy()
    sequences = samples[samples[APEX_PATH].notna()]
    pooled = sequences["pooled"].astype(bool)
    framewise = sequences[~pooled].drop_duplicates(["dataset", "sequence"]).copy()
    framewise["sample_id"] = [
        stacked_sample_id(d, s)
        for d, s in zip(framewise["dataset"], framewise["sequence"], strict=True)
    ]
    stills = pd.concat([sequences[pooled], framewise]).copy()
    stills["frame_paths"] = [[str(path)] for path in stills[APEX_PATH]]
    stills["frame"] = stills[APEX_FRAME]
    stills["pooled"] = False
    return stills.reset_index(drop=True)


def _stem(path: Any) -> str:
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0]

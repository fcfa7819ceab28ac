"""Nodes of the ``render`` pipeline: thin wrappers around :mod:`facevlm.render`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facevlm.datasets.render_set import RenderSet
from facevlm.pipelines.datasets_in_use import datasets_of
from facevlm.render.cache import RenderCache
from facevlm.render.face_pose import ALGORITHM_VERSION as POSE_ALGORITHM_VERSION
from facevlm.render.face_pose import FacePose
from facevlm.render.face_region import FACE_REGION
from facevlm.render.frames import DEFAULT_FRAMES, frames_to_samples, parse_frames
from facevlm.render.parallel import RenderJob, read_mesh_file, render_many
from facevlm.render.sampling import apex_still_samples, plan_render_samples
from facevlm.render.settings import (
    MODALITY_SEPARATOR,
    RenderSettings,
    parse_modalities,
    split_render_params,
)
from facevlm.render.surface_motion import cache_identity as surface_motion_identity
from facevlm.render.surface_motion import surface_motion_mesh, surface_motion_settings
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

logger = logging.getLogger(__name__)


def select_render_samples(
    scan_index: pd.DataFrame, render: dict[str, Any], datasets_in_use: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Which samples to render: each static scan, and the selected frames of each sequence
    (``render.frames``: ``apex``, ``uniform:K``, ``onset_apex_offset``, ``dynamic_image``,
    ``magnified`` or ``surface_motion``), of the datasets ``render.datasets`` names, else of those the run's models
    read (``datasets_in_use``; every dataset in the index when they read all).

    Raises:
        ValueError: the index has scans but none of the datasets asked for, so a model would
            find nothing to train on; the message names both.
    """
    _, plan = split_render_params(render)
    datasets = plan["datasets"] or datasets_of(datasets_in_use)
    samples = plan_render_samples(scan_index, plan["frames"] or DEFAULT_FRAMES, datasets)
    if samples.empty and datasets and len(scan_index):
        raise ValueError(
            f"nothing to render: the run reads datasets {list(datasets)} but the scan index "
            f"holds {sorted(scan_index['dataset'].unique())}; check the models' "
            "protocol.datasets (or render.datasets) against dataset.name"
        )
    logger.info("%d samples to render from %d indexed scans", len(samples), len(scan_index))
    return samples


def _settings_record(settings: RenderSettings, frames: str) -> dict[str, Any]:
    record = asdict(settings)
    record["views"] = [[v.yaw, v.pitch] for v in settings.views]
    record["frames"] = frames
    return record


def render_samples(
    samples: pd.DataFrame, render: dict[str, Any], cache_dir: str
) -> tuple[RenderSet, pd.DataFrame]:
    """Render every sample's views in parallel over the available cores.

    Views already rendered from an unchanged file with the same settings come from the render
    cache in ``cache_dir`` (``params:caches.renders``). A scan that fails to render is reported
    in ``render_failures`` (file and reason) and its sample is left out; the others go on.
    With ``frames: surface_motion`` each sequence's onset and apex meshes are made into one
    surface-motion map before rendering (:mod:`facevlm.render.surface_motion`).

    ``modality: texture+shaded`` renders every sample in each modality (:func:`render_mixed`).
    """
    modalities = parse_modalities(render.get("modality"))
    if len(modalities) > 1:
        return render_mixed(samples, render, cache_dir, modalities)
    return _render_one_modality(samples, render, cache_dir)


def render_apex_stills(
    samples: pd.DataFrame, render: dict[str, Any], cache_dir: str, modality: str = "shaded"
) -> RenderSet:
    """A still render of the apex frame of each sequence, under the id of the sequence's sample
    (a pooled sample's own; for frames rendered one by one, that of the frames stacked as one
    sample), in the run's views, size and face pose: what the face reader reads of a sequence
    (:func:`~facevlm.render.sampling.apex_still_samples`).

    Rendered in ``modality`` when the run renders it, else in the run's first modality, as the
    face reader reads a static scan's render. The frames come from the render cache when an
    earlier run rendered them with the same settings. An apex frame that fails to render is
    logged and left out: its sequence then has no face reading, as a render without a face.
    """
    modalities = parse_modalities(render.get("modality"))
    chosen = modality if modality in modalities else modalities[0]
    stills = apex_still_samples(samples)
    rendered, failures = _render_one_modality(
        stills, {**render, "modality": chosen, "frames": "apex"}, cache_dir
    )
    for failure in failures.itertuples(index=False):
        logger.warning("apex still of %s not rendered: %s", failure.path, failure.reason)
    logger.info("%d apex stills of %d sequences rendered (%s)", len(rendered), len(stills), chosen)
    return rendered


def render_mixed(
    samples: pd.DataFrame, render: dict[str, Any], cache_dir: str, modalities: tuple[str, ...]
) -> tuple[RenderSet, pd.DataFrame]:
    """Every sample rendered in each of ``modalities``: one render set holding a row per sample
    and modality (column ``modality``), all rows of the first modality first, then the second's
    in the same sample order. A model trained on it sees textured and geometry-only renders of
    the same scans.

    Each modality is rendered exactly as a render of that modality alone (same settings, same
    cache entries: adding ``shaded`` to a ``texture`` run renders only the shaded views). A
    sample that fails in any modality is left out of all, so that every kept sample can be
    shown in each; its failure names the modality.
    """
    parts, failures = [], []
    for modality in modalities:
        part, failed = _render_one_modality(samples, {**render, "modality": modality}, cache_dir)
        parts.append(part)
        failures.append(failed.assign(reason=modality + ": " + failed["reason"].astype(str)))
    ids = [set(part.samples["sample_id"]) for part in parts]
    kept = set.intersection(*ids)
    order = [i for i in parts[0].samples["sample_id"] if i in kept]
    tables, images = [], []
    for modality, part in zip(modalities, parts, strict=True):
        row_of = {sample_id: row for row, sample_id in enumerate(part.samples["sample_id"])}
        rows = np.array([row_of[i] for i in order], dtype=np.int64)
        tables.append(part.samples.iloc[rows].assign(modality=modality))
        images.append(part.images[rows])
    settings = {**parts[0].settings, "modality": MODALITY_SEPARATOR.join(modalities)}
    render_set = RenderSet(
        pd.concat(tables, ignore_index=True),
        parts[0].view_names,
        settings,
        np.concatenate(images),
    )
    failure_table = pd.concat(failures, ignore_index=True)
    logger.info(
        "%d samples rendered in %s (%d rows)",
        len(order),
        " and ".join(modalities),
        len(render_set),
    )
    return render_set, failure_table


def _render_one_modality(
    samples: pd.DataFrame, render: dict[str, Any], cache_dir: str
) -> tuple[RenderSet, pd.DataFrame]:
    """:func:`render_samples` in the one modality ``render`` names."""
    settings, plan = split_render_params(render)
    frames = plan["frames"] or DEFAULT_FRAMES
    record = _settings_record(settings, frames)
    cache_key = {k: v for k, v in record.items() if k != "frames"}
    if settings.pose == "estimate":
        cache_key["pose_algorithm"] = POSE_ALGORITHM_VERSION
        cache_key["face_region"] = FACE_REGION
    poses = _poses_of(samples) if settings.pose == "estimate" else {}
    spec = parse_frames(frames)
    from_meshes = samples["pooled"].astype(bool) & spec.pooled_meshes

    failures: dict[str, str] = {}
    paths = sorted({p for paths in samples.loc[~from_meshes, "frame_paths"] for p in paths})
    views = _cached_or_rendered(
        paths, str, settings, RenderCache(cache_dir, cache_key), plan, failures, "scans", poses
    )
    pairs = sorted({tuple(paths) for paths in samples.loc[from_meshes, "frame_paths"]})
    motion = _cached_or_rendered(
        pairs,
        _surface_motion_map,
        surface_motion_settings(settings),
        RenderCache(cache_dir, {**cache_key, spec.mode: surface_motion_identity()}),
        plan,
        failures,
        "surface-motion maps",
        poses,
    )

    kept, images = [], []
    for i, sample in enumerate(samples.itertuples(index=False)):
        if from_meshes.iloc[i]:
            image = motion.get(tuple(sample.frame_paths))
            if image is not None:
                images.append(image)
                kept.append(i)
            continue
        frame_views = [views.get(p) for p in sample.frame_paths]
        if any(v is None for v in frame_views):
            continue
        # a pooled sample's frames become one image per view; any other sample is its frame
        images.append(frames_to_samples(np.stack(frame_views), spec if sample.pooled else None)[0])
        kept.append(i)
    if failures:
        logger.warning("%d scans failed to render; see render_failures", len(failures))

    kept_samples = samples.iloc[kept].reset_index(drop=True)
    size = settings.size
    empty = np.zeros((0, len(settings.views), size, size, 3), np.uint8)
    stacked = np.stack(images) if images else empty
    render_set = RenderSet(kept_samples, [v.name for v in settings.views], record, stacked)
    failure_table = pd.DataFrame(
        {"path": list(failures), "reason": list(failures.values())}, columns=["path", "reason"]
    )
    return render_set, failure_table


def _cached_or_rendered(
    sources: list,
    to_render: Callable[[Any], str | FaceMesh],
    settings: RenderSettings,
    cache: RenderCache,
    plan: dict[str, Any],
    failures: dict[str, str],
    what: str,
    poses: dict[str, str] | None = None,
) -> dict[Any, np.ndarray]:
    """The views of each source (a scan file, or the (onset, apex) files of a surface-motion
    map) from the cache, else rendered in parallel from what ``to_render`` makes of it (a mesh
    file's path, or a mesh) and then cached. A source that cannot be made or rendered goes to
    ``failures`` under its (last) file. ``poses`` (by file; a pair's by its apex) gives the
    face pose ingest recorded, the one of the whole sequence for a frame; without one the
    renderer does as the settings say."""
    poses = poses or {}

    def pose_of(source: Any) -> str:
        return poses.get(source[-1] if isinstance(source, tuple) else source) or ""

    views: dict[Any, np.ndarray] = {}
    pending: list[tuple[Any, str | FaceMesh]] = []
    for source in sources:
        cached = cache.get(source, pose_of(source))
        if cached is not None:
            views[source] = cached
            continue
        try:
            pending.append((source, to_render(source)))
        except Exception as exc:  # one bad clip must not stop the others: record and go on
            reason = str(exc) if isinstance(exc, ScanError) else f"{type(exc).__name__}: {exc}"
            _record_failure(failures, source, reason)
    if sources:
        logger.info("%d %s from the render cache, %d to render", len(views), what, len(pending))
    if pending:
        jobs = [
            RenderJob(mesh, name=f"job{i:07d}", pose=_pose(pose_of(source)))
            for i, (source, mesh) in enumerate(pending)
        ]
        results = render_many(jobs, settings, plan["n_workers"])
        for (source, _), result in zip(pending, results, strict=True):
            if result.ok:
                views[source] = result.images
                cache.put(source, result.images, pose_of(source))
            else:
                _record_failure(failures, source, result.error)
    return views


def _poses_of(samples: pd.DataFrame) -> dict[str, str]:
    """The recorded face pose of every file the samples render (empty without the column)."""
    if "face_pose" not in samples.columns:
        return {}
    return {
        path: pose
        for paths, pose in zip(samples["frame_paths"], samples["face_pose"], strict=True)
        if isinstance(pose, str)
        for path in paths
    }


def _pose(text: str) -> FacePose | None:
    return FacePose.from_json(text) if text else None


def _surface_motion_map(pair: tuple[str, ...]) -> FaceMesh:
    """The surface-motion map of an (onset, apex) pair of frame files, to be rendered."""
    onset, apex = pair
    return surface_motion_mesh(read_mesh_file(Path(onset)), read_mesh_file(Path(apex)))


def _record_failure(failures: dict[str, str], source: Any, reason: str) -> None:
    """A scan file's failure under its path; a pair's under its apex, naming the onset."""
    if isinstance(source, tuple):
        failures[source[-1]] = f"surface motion from {source[0]}: {reason}"
    else:
        failures[source] = reason

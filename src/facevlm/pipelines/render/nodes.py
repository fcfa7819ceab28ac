"""Nodes of the ``render`` pipeline: thin wrappers around :mod:`facevlm.render`."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facevlm.data.errors import ScanError
from facevlm.datasets.render_set import RenderSet
from facevlm.pipelines.datasets_in_use import datasets_of
from facevlm.render.cache import RenderCache
from facevlm.render.frames import parse_frames, pool_frames
from facevlm.render.parallel import RenderJob, read_mesh_file, render_many
from facevlm.render.renderer import RenderSettings
from facevlm.render.sampling import plan_render_samples
from facevlm.render.surface_motion import cache_identity as surface_motion_identity
from facevlm.render.surface_motion import surface_motion_mesh, surface_motion_settings

logger = logging.getLogger(__name__)

#: Parameters of ``params:render`` that are not :class:`RenderSettings` fields.
_PLAN_KEYS = ("frames", "n_workers", "datasets")


def _split_params(render: dict[str, Any]) -> tuple[RenderSettings, dict[str, Any]]:
    settings = RenderSettings.from_params(render, ignore=_PLAN_KEYS)
    return settings, {k: render.get(k) for k in _PLAN_KEYS}


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
    _, plan = _split_params(render)
    datasets = plan["datasets"] or datasets_of(datasets_in_use)
    samples = plan_render_samples(scan_index, plan["frames"] or "apex", datasets)
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
    """
    settings, plan = _split_params(render)
    record = _settings_record(settings, plan["frames"] or "apex")
    cache_key = {k: v for k, v in record.items() if k != "frames"}
    spec = parse_frames(plan["frames"] or "apex")
    from_meshes = samples["pooled"].astype(bool) & spec.pooled_meshes

    failures: dict[str, str] = {}
    paths = sorted({p for paths in samples.loc[~from_meshes, "frame_paths"] for p in paths})
    views = _render_files(paths, settings, RenderCache(cache_dir, cache_key), plan, failures)
    pairs = sorted({tuple(paths) for paths in samples.loc[from_meshes, "frame_paths"]})
    motion_cache = RenderCache(cache_dir, {**cache_key, spec.mode: surface_motion_identity()})
    motion = _render_surface_motion(pairs, settings, motion_cache, plan, failures)

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
        # pooled: (T, V, H, W, 3) frames -> (V, H, W, 3), each view pooled on its own
        images.append(pool_frames(np.stack(frame_views), spec) if sample.pooled else frame_views[0])
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


def _render_files(
    paths: list[str],
    settings: RenderSettings,
    cache: RenderCache,
    plan: dict[str, Any],
    failures: dict[str, str],
) -> dict[str, np.ndarray]:
    """The views of each scan file, from the cache or rendered; failures go to ``failures``."""
    views: dict[str, np.ndarray] = {}
    missing = []
    for path in paths:
        cached = cache.get(path)
        if cached is None:
            missing.append(path)
        else:
            views[path] = cached
    logger.info("%d scans from the render cache, %d to render", len(views), len(missing))
    if missing:
        jobs = [RenderJob(path, name=f"job{i:07d}") for i, path in enumerate(missing)]
        for path, result in zip(
            missing, render_many(jobs, settings, plan["n_workers"]), strict=True
        ):
            if result.ok:
                views[path] = result.images
                cache.put(path, result.images)
            else:
                failures[path] = result.error
    return views


def _render_surface_motion(
    pairs: list[tuple[str, ...]],
    settings: RenderSettings,
    cache: RenderCache,
    plan: dict[str, Any],
    failures: dict[str, str],
) -> dict[tuple[str, ...], np.ndarray]:
    """The views of each (onset, apex) pair's surface-motion map, from the cache or made and
    rendered; a pair whose meshes cannot be read or compared is reported under its apex file."""
    views: dict[tuple[str, ...], np.ndarray] = {}
    jobs, missing = [], []
    for pair in pairs:
        cached = cache.get(pair)
        if cached is not None:
            views[pair] = cached
            continue
        onset, apex = pair
        try:
            mesh = surface_motion_mesh(read_mesh_file(Path(onset)), read_mesh_file(Path(apex)))
        except Exception as exc:  # one bad clip must not stop the others: record and go on
            reason = str(exc) if isinstance(exc, ScanError) else f"{type(exc).__name__}: {exc}"
            failures[apex] = f"surface motion from {onset}: {reason}"
            continue
        jobs.append(RenderJob(mesh, name=f"motion{len(jobs):07d}"))
        missing.append(pair)
    if pairs:
        logger.info(
            "%d surface-motion maps from the render cache, %d to make", len(views), len(jobs)
        )
    if jobs:
        results = render_many(jobs, surface_motion_settings(settings), plan["n_workers"])
        for pair, result in zip(missing, results, strict=True):
            if result.ok:
                views[pair] = result.images
                cache.put(pair, result.images)
            else:
                failures[pair[1]] = f"surface motion from {pair[0]}: {result.error}"
    return views

"""Nodes of the ``render`` pipeline: thin wrappers around :mod:`facevlm.render`."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from facevlm.datasets.render_set import RenderSet
from facevlm.pipelines.datasets_in_use import datasets_of
from facevlm.render.cache import RenderCache
from facevlm.render.frames import parse_frames, pool_frames
from facevlm.render.parallel import RenderJob, render_many
from facevlm.render.renderer import RenderSettings
from facevlm.render.sampling import plan_render_samples

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
    (``render.frames``: ``apex``, ``uniform:K``, ``onset_apex_offset``, ``dynamic_image`` or
    ``magnified``), of the datasets ``render.datasets`` names, else of those the run's models
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
    cache in ``cache_dir`` (``params:caches.renders``). A scan that fails to render is reported in ``render_failures`` (file and reason) and
    its sample is left out; the others go on.
    """
    settings, plan = _split_params(render)
    record = _settings_record(settings, plan["frames"] or "apex")
    cache_key = {k: v for k, v in record.items() if k != "frames"}
    cache = RenderCache(cache_dir, cache_key)

    paths = sorted({p for paths in samples["frame_paths"] for p in paths})
    views: dict[str, np.ndarray] = {}
    missing = []
    for path in paths:
        cached = cache.get(path)
        if cached is None:
            missing.append(path)
        else:
            views[path] = cached
    logger.info("%d scans from the render cache, %d to render", len(views), len(missing))

    failures: dict[str, str] = {}
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

    spec = parse_frames(plan["frames"] or "apex")
    kept, images = [], []
    for i, sample in enumerate(samples.itertuples(index=False)):
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

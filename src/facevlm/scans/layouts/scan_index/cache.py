"""Reusing a previous index: rows whose files (mesh, expected texture, landmarks) are unchanged
and whose options still hold are taken from the cache instead of opening the mesh again.

Separate because when a cached row may stand for a file is its own set of rules (fingerprint,
pose version, landmark and texture options, lowered limits), kept in one place.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from facevlm.scans.layouts.scan_index.jobs import IndexOptions, ValidationJob
from facevlm.scans.layouts.scan_index.table import _VALIDATION_COLUMNS, INDEX_COLUMNS

# the index's own logger: records keep the name they had before the index was a package
log = logging.getLogger(__package__)


def _cache_rows(cache: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Previous index rows by path; an index of another schema is ignored (with a warning)."""
    if cache is None or len(cache) == 0:
        return {}
    missing = [c for c in INDEX_COLUMNS if c not in cache.columns]
    if missing:
        log.warning("cache ignored: it lacks column(s) %s", ", ".join(missing))
        return {}
    rows = cache.astype(object).where(cache.notna(), None).to_dict("records")
    return {str(row["path"]): row for row in rows}


def _from_cache(
    jobs: list[ValidationJob], cache: pd.DataFrame | None, opts: IndexOptions
) -> tuple[dict[int, dict[str, Any]], list[ValidationJob]]:
    """Validation results reused from ``cache`` (by job number), and the jobs still to run."""
    cached = _cache_rows(cache)
    results: dict[int, dict[str, Any]] = {}
    todo: list[ValidationJob] = []
    for job in jobs:
        hit = cached.get(job.path)
        if hit is not None and _cache_valid(hit, job, opts):
            results[job.i] = {c: hit.get(c) for c in _VALIDATION_COLUMNS}
        else:
            todo.append(job)
    return results, todo


def _cache_valid(row: Mapping[str, Any], job: ValidationJob, opts: IndexOptions) -> bool:
    """A cached row stands for the file if nothing it was derived from has changed."""
    if row.get("fingerprint") != job.fingerprint():
        return False
    if job.pose is not None and _pose_version(row.get("face_pose")) != job.pose.version:
        return False  # estimated by another version of the fit, or not at all
    if not opts.estimate_pose and _pose_version(row.get("face_pose")) is not None:
        return False  # the option was switched off
    if (row.get("landmarks_path") or None) != (
        job.landmarks_path if opts.check_landmarks else None
    ):
        return False  # landmarks failed last time (or the option changed): read again
    if (row.get("n_vertices") or 0) > job.limits.max_vertices or (
        row.get("n_polygons") or 0
    ) > job.limits.max_polygons:
        return False  # the limits were lowered: read again to refuse it with the reason
    texture = row.get("texture_path")
    if texture is None:
        return opts.allow_missing_texture
    real = Path(os.path.realpath(texture))
    inside = job.root is None or real.is_relative_to(os.path.realpath(job.root))
    return inside and real.is_file()


def _pose_version(text: Any) -> Any:
    """The version of the fit that estimated a cached pose (``None``: no pose)."""
    if not isinstance(text, str) or not text:
        return None
    return json.loads(text).get("version")

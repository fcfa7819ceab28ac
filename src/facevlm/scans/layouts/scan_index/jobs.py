"""What validating one scan needs: the index's own options and the job sent to a worker, with
the fingerprint (size and modification time of its files) that keys the cache.

Separate from :mod:`~facevlm.scans.layouts.scan_index.validation` because a job is plain data,
cheap to send to a spawned process, and both the validation and the cache read it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facevlm.scans.formats.limits import ReadLimits
from facevlm.scans.layouts.base import ScanRecord, texture_policy_for
from facevlm.scans.mesh import FaceMesh


@dataclass(frozen=True)
class IndexOptions:
    """Options of the index itself, given in the same ``options`` mapping as the layout's.

    ``allow_missing_texture``: index scans whose texture is missing (default: quarantine them).
    ``check_landmarks``: read landmark files too (default true).
    ``estimate_pose``: find the face's pose and refuse meshes without a face (default false
    here; the ingest pipeline switches it on with ``render.pose: estimate``).
    """

    allow_missing_texture: bool = False
    check_landmarks: bool = True
    estimate_pose: bool = False


INDEX_OPTION_KEYS = frozenset(IndexOptions.__dataclass_fields__)


@dataclass(frozen=True)
class PoseEstimator:
    """How the index finds a scan's face pose, given by its caller: the face pose belongs to the
    layer above the scans' (it registers a face template and frames the face for the renderer),
    so the index is handed one rather than importing it.

    ``estimate(mesh)``: the pose as JSON with a ``version`` key, or :class:`ScanError` when the
    mesh shows no face; a module-level function, so that jobs carrying it pickle for the worker
    processes. ``version``: the algorithm's version; a cached pose of another one is estimated
    again.
    """

    estimate: Callable[[FaceMesh], str]
    version: int


@dataclass(frozen=True)
class ValidationJob:
    """What a worker needs to validate one scan (plain strings: cheap to send to a process)."""

    i: int
    path: str
    texture_path: str | None
    landmarks_path: str | None
    texture_policy: str
    allow_missing_texture: bool
    check_landmarks: bool
    root: str | None = None
    limits: ReadLimits = ReadLimits()
    pose: PoseEstimator | None = None  # None: no pose for this scan (off, or a sequence frame)

    @classmethod
    def from_record(
        cls,
        i: int,
        record: ScanRecord,
        opts: IndexOptions,
        root: Path | None = None,
        limits: ReadLimits | None = None,
        pose: PoseEstimator | None = None,
    ) -> ValidationJob:
        return cls(
            i=i,
            path=str(_absolute(record.path)),
            texture_path=_absolute(record.texture_path),
            landmarks_path=_absolute(record.landmarks_path),
            texture_policy=texture_policy_for(record.dataset),
            allow_missing_texture=opts.allow_missing_texture,
            check_landmarks=opts.check_landmarks,
            root=None if root is None else str(root),
            limits=limits or ReadLimits(),
            pose=pose,
        )

    def fingerprint(self) -> str:
        return "|".join(_stat(p) for p in (self.path, self.texture_path, self.landmarks_path))


def _absolute(path: str | Path | None) -> str | None:
    """Absolute and normalised, but symlinks *not* resolved: the path is reported as it is in
    the dataset, and reading resolves it and checks it stays inside the root."""
    return None if path is None else os.path.abspath(path)


def _stat(path: str | None) -> str:
    if path is None:
        return "-"
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"

"""The scan index: every usable scan of a dataset folder, validated, plus a quarantine report.

Why validate at ingest rather than at render time: real collections contain truncated files, NaN
coordinates, empty meshes and missing textures. Finding them while rendering thousands of views
(or, worse, mid-training) wastes hours and hides *which* files are bad. So the index opens every
mesh once with :func:`facevlm.scans.formats.read_mesh` (and its landmarks), records what the later
stages need (vertex and polygon counts, UVs, the texture actually used) and sends every failure
to a quarantine report with the file and the reason — then carries on, unless ``fail_fast``.

Re-running on an unchanged folder is cheap: pass the previous index as ``cache`` and rows whose
files have the same size and modification time (mesh, expected texture, landmarks) are reused
without opening the mesh again. Validation can run in a pool of ``n_workers`` processes (spawned,
not forked, so it is safe inside a threaded Kedro/MLflow run); the result is the same.

Index columns (:data:`INDEX_COLUMNS`, in this order; missing values are ``NA``/``NaN``, test with
``pd.isna``):

==================  ========  =========================================================
column              dtype     meaning
==================  ========  =========================================================
dataset             str       layout (``bu3dfe`` ...) or ``synthetic-<layout>``
subject             str       subject id as spelt by the dataset
gender              str       ``female`` / ``male`` where known
age                 Int64     years, where known
ethnicity           str       where known (BU-3DFE)
expression          str       canonical expression or other label (see ScanRecord)
label_set           str       ``basic`` / ``micro`` / ``au`` / ``task`` / ``pose`` / ...
intensity           Int64     BU-3DFE 0–4
sequence            str       4D sequence id; NA for static scans
frame               Int64     frame number; NA for static scans
n_frames            Int64     indexed frames of the sequence; NA for static scans
path                str       absolute mesh path
texture_path        str       absolute path of the texture used; NA when none
landmarks_path      str       landmark file (read successfully); NA when none or unreadable
n_vertices          Int64     vertices of the mesh as read
n_polygons          Int64     polygons (any arity) of the mesh
has_uv              boolean   the mesh has texture coordinates
has_texture         boolean   ``texture_path`` exists
n_landmarks         Int64     landmarks in the landmark file; NA when none
file_size           Int64     bytes of the mesh file
mtime_ns            Int64     modification time of the mesh file (ns)
fingerprint         str       size/mtime of mesh, expected texture and landmarks (cache key)
extra               str       JSON object of dataset-specific details (:func:`extra_column`)
face_pose           str       JSON of the face's estimated pose (rotation, centre, radius,
                              units, scores: :class:`~facevlm.render.face_pose.FacePose`);
                              a sequence's frames share the pose of its middle frame; NA
                              when ``estimate_pose`` is off
==================  ========  =========================================================

``extra`` is stored as JSON text, not a dict, so the index saves to CSV and Parquet unchanged.

Quarantine columns (:data:`QUARANTINE_COLUMNS`): ``path, reason, dataset, stage`` with stage one
of ``discover`` (name grammar, folders that cannot be read), ``labels`` (label files and rows),
``read`` (the mesh), ``texture`` (texture missing or unmappable), ``landmarks`` (the landmark
file is unreadable; its path is reported and the scan itself is still indexed, without
landmarks), ``skipped`` (an entry named like a scan that the layout does not index: a FIFO, a
dangling link, a folder named like a scan, a file outside the layout's folders or excluded by
its options). Every entry below the root whose name looks like a scan is either a row of the
index, a quarantine row, or a ``skipped`` row — nothing is dropped silently, and the run log
prints the counts (:mod:`facevlm.scans.layouts.accounting`).

What may be read: every file (scan, texture, material, landmarks) must resolve, symlinks
included, inside the dataset root, be a regular file, and be within the size limits
(:class:`~facevlm.scans.formats.limits.ReadLimits`: ``limits=``, ``dataset.limits`` in Kedro).
A texture that resolves outside the root refuses the scan whatever ``allow_missing_texture``
says; a texture that is missing, not a regular file, too large or a decompression bomb is a
texture problem. A landmark release configured outside the root is read within its own folders.

Faces: with ``estimate_pose`` every static scan, and the middle frame of every
sequence, is registered to a mean face by the ``pose_estimator`` the caller hands in
(:data:`facevlm.render.face_pose.FACE_POSE_ESTIMATOR`: the face pose is a layer above this
one); a mesh on which no
face is found (a ball, a box, a hand) is quarantined at stage ``pose`` with the fit's scores,
a sequence whose middle frame has no face with all its frames. One pose per sequence, never
one per frame, so that the renders of a clip do not jump between frames.

Missing textures: DECIDED, quarantined by default, because every render modality but depth needs
one and a silently untextured scan would become a grey face in training. The same holds for a
mesh without texture coordinates (and without vertex colours): its texture cannot be mapped —
and a file cut short after its polygon list reads as exactly such a mesh. Option
``allow_missing_texture: true`` indexes both kinds, with ``has_texture``/``has_uv`` telling.

The package, one module per stage: :mod:`.table` (columns, dtypes, rows), :mod:`.quarantine`
(the report), :mod:`.jobs` (options, the job sent to a worker, its fingerprint),
:mod:`.validation` (reading one scan), :mod:`.cache` (reusing a previous index) and
:mod:`.poses` (one pose per sequence). This module runs them: discovery, validation in this
process or a pool (``validate_scan`` is looked up here, so patching
``facevlm.scans.layouts.scan_index.validate_scan`` takes effect), and the two tables.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from facevlm.cores import one_thread_per_worker
from facevlm.scans.errors import ScanError
from facevlm.scans.formats.limits import ReadLimits
from facevlm.scans.layouts.accounting import Accounting, account, walk_root
from facevlm.scans.layouts.base import (
    Rejected,
    ScanRecord,
    canonical_layout_name,
    get_layout,
    parse_options,
)
from facevlm.scans.layouts.scan_index.cache import _from_cache
from facevlm.scans.layouts.scan_index.jobs import (
    INDEX_OPTION_KEYS,
    IndexOptions,
    PoseEstimator,
    ValidationJob,
)
from facevlm.scans.layouts.scan_index.poses import _pose_reference_frames, _share_sequence_poses
from facevlm.scans.layouts.scan_index.quarantine import (
    QUARANTINE_COLUMNS,
    _quarantine_frame,
    _reject,
)
from facevlm.scans.layouts.scan_index.table import (
    INDEX_COLUMNS,
    _index_frame,
    _row,
    empty_index,
    extra_column,
)
from facevlm.scans.layouts.scan_index.validation import validate_scan

__all__ = [
    "INDEX_COLUMNS",
    "INDEX_OPTION_KEYS",
    "QUARANTINE_COLUMNS",
    "IndexOptions",
    "PoseEstimator",
    "ValidationJob",
    "build_scan_index",
    "empty_index",
    "extra_column",
    "validate_scan",
]

log = logging.getLogger(__name__)


def build_scan_index(
    name: str,
    root: str | Path,
    options: Mapping[str, Any] | None = None,
    *,
    fail_fast: bool = False,
    cache: pd.DataFrame | None = None,
    n_workers: int | None = 1,
    progress: bool = True,
    allow_missing_texture: bool | None = None,
    limits: ReadLimits | None = None,
    accounting: list[Accounting] | None = None,
    pose_estimator: PoseEstimator | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Discover, validate and index the scans of one dataset folder.

    Args:
        name: layout name (``synthetic``, ``bu3dfe``, ``bu4dfe``, ``bosphorus``, ``bp4d``,
            ``4dme``).
        root: the dataset's root folder.
        options: the layout's options plus :class:`IndexOptions` keys.
        fail_fast: raise :class:`ScanError` at the first bad file instead of quarantining it.
        cache: a previous index of the same folder; rows whose files are unchanged are reused.
        n_workers: processes used to read meshes (1 or ``None``: in this process).
        progress: show a progress bar.
        allow_missing_texture: overrides the option of the same name when not ``None``.
        limits: size limits for every file read (default
            :data:`~facevlm.scans.formats.limits.DEFAULT_LIMITS`).
        accounting: if given, the :class:`~facevlm.scans.layouts.accounting.Accounting` of the
            run is appended to it (the counts the log prints).
        pose_estimator: what finds the face pose when the ``estimate_pose`` option is on
            (:data:`facevlm.render.face_pose.FACE_POSE_ESTIMATOR`, which the ingest node
            passes).

    Returns:
        ``(index, quarantine)``, DataFrames with :data:`INDEX_COLUMNS` and
        :data:`QUARANTINE_COLUMNS`.
    """
    layout_name = canonical_layout_name(name)
    options = dict(options or {})
    own = {k: options.pop(k) for k in list(options) if k in INDEX_OPTION_KEYS}
    if allow_missing_texture is not None:
        own["allow_missing_texture"] = allow_missing_texture
    index_opts = parse_options(IndexOptions, own, where="index")
    if index_opts.estimate_pose and pose_estimator is None:
        raise ValueError(
            "the estimate_pose option needs a pose_estimator "
            "(facevlm.render.face_pose.FACE_POSE_ESTIMATOR)"
        )
    root = Path(root).resolve()
    layout = get_layout(layout_name)
    limits = limits or ReadLimits()

    quarantine: list[dict[str, Any]] = []
    records: list[ScanRecord] = []
    for candidate in layout.discover(root, options):
        if isinstance(candidate, Rejected):
            _reject(quarantine, candidate, candidate.dataset or layout_name, fail_fast)
        else:
            records.append(candidate)

    reference = _pose_reference_frames(records) if index_opts.estimate_pose else set()
    all_jobs = [
        ValidationJob.from_record(
            i, record, index_opts, root, limits, pose_estimator if i in reference else None
        )
        for i, record in enumerate(records)
    ]
    results, jobs = _from_cache(all_jobs, cache, index_opts)
    if cache is not None:
        log.info(
            "%s: %d of %d scans reused from the cache", layout_name, len(results), len(records)
        )

    for job, outcome in _run(jobs, n_workers or 1, progress, desc=f"index {layout_name}"):
        for failure in outcome.get("failures", []):
            rejected = Rejected(
                Path(failure.get("path") or job.path), failure["reason"], failure["stage"]
            )
            _reject(quarantine, rejected, records[job.i].dataset, fail_fast)
        if "stats" in outcome:
            results[job.i] = outcome["stats"]

    if index_opts.estimate_pose:
        _share_sequence_poses(records, results, quarantine, fail_fast)
    rows = [_row(records[i], results[i], all_jobs[i]) for i in range(len(records)) if i in results]
    counts = account(
        layout_name, walk_root(root), [row["path"] for row in rows], quarantine, layout_name
    )
    if fail_fast:
        for row in quarantine:  # unreadable folders are found only now
            if row["stage"] == "discover":
                raise ScanError(row["path"], f"[{row['stage']}] {row['reason']}")
    log.info("%s", counts.summary())
    if accounting is not None:
        accounting.append(counts)
    return _index_frame(rows), _quarantine_frame(quarantine)


def _run(
    jobs: list[ValidationJob], n_workers: int, progress: bool, desc: str
) -> Iterator[tuple[ValidationJob, dict[str, Any]]]:
    """Validate ``jobs`` in order, in this process or in a pool of ``n_workers`` processes."""
    bar = _progress(len(jobs), progress, desc)
    try:
        if n_workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield job, validate_scan(job)
                bar.update(1)
            return
        # spawn, not fork: the caller may be a threaded Kedro/MLflow process
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=n_workers, mp_context=context, initializer=one_thread_per_worker
        )
        try:
            chunk = max(1, min(64, len(jobs) // (4 * n_workers)))
            for job, outcome in zip(
                jobs, pool.map(validate_scan, jobs, chunksize=chunk), strict=True
            ):
                yield job, outcome
                bar.update(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


class _NoProgress:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return _NoProgress()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoProgress()
    return tqdm(total=total, desc=desc, unit="scan")

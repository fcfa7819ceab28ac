"""The scan index: every usable scan of a dataset folder, validated, plus a quarantine report.

Why validate at ingest rather than at render time: real collections contain truncated files, NaN
coordinates, empty meshes and missing textures. Finding them while rendering thousands of views
(or, worse, mid-training) wastes hours and hides *which* files are bad. So the index opens every
mesh once with :func:`facevlm.data.formats.read_mesh` (and its landmarks), records what the later
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
prints the counts (:mod:`facevlm.data.layouts.accounting`).

What may be read: every file (scan, texture, material, landmarks) must resolve, symlinks
included, inside the dataset root, be a regular file, and be within the size limits
(:class:`~facevlm.data.formats.limits.ReadLimits`: ``limits=``, ``dataset.limits`` in Kedro).
A texture that resolves outside the root refuses the scan whatever ``allow_missing_texture``
says; a texture that is missing, not a regular file, too large or a decompression bomb is a
texture problem. A landmark release configured outside the root is read within its own folders.

Faces: with ``estimate_pose`` every static scan, and the middle frame of every
sequence, is registered to a mean face (:mod:`facevlm.render.face_pose`); a mesh on which no
face is found (a ball, a box, a hand) is quarantined at stage ``pose`` with the fit's scores,
a sequence whose middle frame has no face with all its frames. One pose per sequence, never
one per frame, so that the renders of a clip do not jump between frames.

Missing textures: DECIDED, quarantined by default, because every render modality but depth needs
one and a silently untextured scan would become a grey face in training. The same holds for a
mesh without texture coordinates (and without vertex colours): its texture cannot be mapped —
and a file cut short after its polygon list reads as exactly such a mesh. Option
``allow_missing_texture: true`` indexes both kinds, with ``has_texture``/``has_uv`` telling.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from facevlm.cores import one_thread_per_worker
from facevlm.data.errors import ScanError
from facevlm.data.formats.limits import ReadLimits
from facevlm.data.layouts.accounting import Accounting, account, walk_root
from facevlm.data.layouts.base import (
    Rejected,
    ScanRecord,
    canonical_layout_name,
    get_layout,
    parse_options,
    texture_policy_for,
)

log = logging.getLogger(__name__)

INDEX_COLUMNS: tuple[str, ...] = (
    "dataset", "subject", "gender", "age", "ethnicity", "expression", "label_set", "intensity",
    "sequence", "frame", "n_frames", "path", "texture_path", "landmarks_path",
    "n_vertices", "n_polygons", "has_uv", "has_texture", "n_landmarks",
    "file_size", "mtime_ns", "fingerprint", "extra", "face_pose",
)  # fmt: skip
QUARANTINE_COLUMNS: tuple[str, ...] = ("path", "reason", "dataset", "stage")

_INT_COLUMNS = ("age", "intensity", "frame", "n_frames", "n_vertices", "n_polygons",
                "n_landmarks", "file_size", "mtime_ns")  # fmt: skip
_BOOL_COLUMNS = ("has_uv", "has_texture")
#: Text columns: pandas' own string dtype from pandas 3 (missing = NaN), plain objects before.
_STR: Any = "str" if int(pd.__version__.split(".")[0]) >= 3 else object
#: Columns produced by validation, the ones a cache hit reuses.
_VALIDATION_COLUMNS = ("texture_path", "landmarks_path", "n_vertices", "n_polygons", "has_uv",
                       "has_texture", "n_landmarks", "face_pose")  # fmt: skip


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
            :data:`~facevlm.data.formats.limits.DEFAULT_LIMITS`).
        accounting: if given, the :class:`~facevlm.data.layouts.accounting.Accounting` of the
            run is appended to it (the counts the log prints).

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
        ValidationJob.from_record(i, record, index_opts, root, limits, i in reference)
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


def _reject(
    quarantine: list[dict[str, Any]], rejected: Rejected, dataset: str, fail_fast: bool
) -> None:
    if fail_fast:
        raise ScanError(rejected.path, f"[{rejected.stage}] {rejected.reason}")
    log.debug("quarantined %s: %s", rejected.path, rejected.reason)
    quarantine.append(
        {
            "path": str(rejected.path),
            "reason": rejected.reason,
            "dataset": dataset,
            "stage": rejected.stage,
        }
    )


# ---------------------------------------------------------------------------------- validation
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
    estimate_pose: bool = False

    @classmethod
    def from_record(
        cls,
        i: int,
        record: ScanRecord,
        opts: IndexOptions,
        root: Path | None = None,
        limits: ReadLimits | None = None,
        estimate_pose: bool = False,
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
            estimate_pose=estimate_pose,
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


def validate_scan(job: ValidationJob) -> dict[str, Any]:
    """Read one scan: ``{"stats": {...}}`` and/or ``{"failures": [{stage, reason[, path]}]}``.

    Never raises for a bad file: the caller decides between quarantine and fail-fast. An
    exception other than :class:`ScanError` is a reader bug, reported with its type so it is
    noticed, but it does not stop an ingest of thousands of files either.
    """
    from facevlm.data import formats  # late: the readers are looked up at call time (patchable)
    from facevlm.data.formats._files import ReadScope

    scope = ReadScope.around(job.path, job.root, job.limits)
    try:
        mesh = formats.read_mesh(job.path, root=job.root, limits=job.limits)
        texture, problem = _texture(job, mesh, scope)
    except Exception as error:  # noqa: BLE001 - see docstring
        return {"failures": [{"stage": "read", "reason": _reason(error)}]}
    if problem:
        return {"failures": [{"stage": "texture", "reason": problem}]}
    face_pose = None
    if job.estimate_pose:
        from facevlm.render.face_pose import estimate_face_pose

        try:
            face_pose = estimate_face_pose(mesh).to_json()
        except ScanError as error:
            return {"failures": [{"stage": "pose", "reason": error.reason}]}

    failures: list[dict[str, str]] = []
    landmarks_path, n_landmarks = None, None
    if job.landmarks_path is not None and not job.check_landmarks:
        landmarks_path = job.landmarks_path
    elif job.landmarks_path is not None:
        try:
            n_landmarks = _count_landmarks(
                formats, Path(job.landmarks_path), mesh.n_vertices, _landmark_scope(job, scope)
            )
            landmarks_path = job.landmarks_path
        except Exception as error:  # noqa: BLE001 - the scan stays usable without landmarks
            failures.append(
                {"stage": "landmarks", "reason": _reason(error), "path": job.landmarks_path}
            )

    stats = {
        "texture_path": None if texture is None else str(texture),
        "landmarks_path": landmarks_path,
        "n_vertices": mesh.n_vertices,
        "n_polygons": mesh.n_polygons,
        "has_uv": bool(mesh.has_uv),
        "has_texture": texture is not None,
        "n_landmarks": n_landmarks,
        "face_pose": face_pose,
    }
    return {"stats": stats, "failures": failures}


def _reason(error: Exception) -> str:
    if isinstance(error, ScanError):
        return error.reason
    return f"unexpected {type(error).__name__}: {error}"


def _texture(job: ValidationJob, mesh: Any, scope: Any) -> tuple[Path | None, str]:
    """The texture file the scan uses (by the layout's policy, resolved inside the root), and
    why it is unusable if so.

    Raises:
        ScanError: a candidate resolves outside the dataset root (refused whatever
            ``allow_missing_texture`` says).
    """
    from facevlm.data.formats._textures import texture_problem

    layout_texture = None if job.texture_path is None else Path(job.texture_path)
    mesh_texture = None if mesh.texture_path is None else Path(mesh.texture_path)
    order = [layout_texture, mesh_texture]
    if job.texture_policy == "mesh":
        order.reverse()
    texture, problems = None, []
    for candidate in dict.fromkeys(p for p in order if p is not None):
        found, why = scope.probe(candidate, job.path, "texture")
        if found is None:
            if why != "file not found":
                problems.append(f"texture {candidate.name[:80]}: {why}")
            continue
        why = texture_problem(found, scope)
        if not why:
            texture = found
            break
        problems.append(why)
    if job.allow_missing_texture:
        return texture, ""
    if texture is None:
        if problems:
            return None, "; ".join(problems)
        expected = " or ".join(dict.fromkeys(str(p) for p in order if p is not None))
        return (
            None,
            f"missing texture {expected}" if expected else "no texture: the mesh names none",
        )
    if not mesh.has_uv and mesh.vertex_colors is None:
        return (
            texture,
            "mesh has no texture coordinates (nor vertex colours) to map its texture with",
        )
    return texture, ""


def _landmark_scope(job: ValidationJob, scope: Any) -> Any:
    """Landmarks inside the dataset root are read within it; a separate landmark release the
    user configured (BU-4DFE ``landmarks_root``, e.g. a sibling folder) within the landmark
    file's own folder, so a symlink there still cannot lead elsewhere."""
    from facevlm.data.formats._files import ReadScope

    if job.root is None or Path(job.landmarks_path).is_relative_to(os.path.abspath(job.root)):
        return scope
    return ReadScope.around(job.landmarks_path, None, job.limits)


def _count_landmarks(formats: Any, path: Path, n_vertices: int, scope: Any) -> int | None:
    suffix = path.suffix.lower()
    if suffix in (".bnd", ".landmark"):
        _, points = formats.read_bnd(path, n_vertices=n_vertices, scope=scope)
        return len(points)
    if suffix == ".lm3":
        return len(formats.read_lm3(path, scope=scope))
    return None


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


# ---------------------------------------------------------------------------------- cache
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
    if job.estimate_pose and not _has_current_pose(row.get("face_pose")):
        return False  # estimated by another version of the fit, or not at all
    if not opts.estimate_pose and _has_current_pose(row.get("face_pose")):
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


def _has_current_pose(text: Any) -> bool:
    from facevlm.render.face_pose import ALGORITHM_VERSION

    if not isinstance(text, str) or not text:
        return False
    return json.loads(text).get("version") == ALGORITHM_VERSION


# ---------------------------------------------------------------------------------- poses
def _pose_reference_frames(records: list[ScanRecord]) -> set[int]:
    """The records whose pose is estimated: every static scan, and the middle frame (by frame
    number) of every sequence."""
    chosen = {i for i, r in enumerate(records) if r.sequence is None}
    sequences: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for i, record in enumerate(records):
        if record.sequence is not None:
            key = (record.dataset, record.sequence)
            sequences.setdefault(key, []).append((record.frame or 0, i))
    for frames in sequences.values():
        frames.sort()
        chosen.add(frames[len(frames) // 2][1])
    return chosen


def _share_sequence_poses(
    records: list[ScanRecord],
    results: dict[int, dict[str, Any]],
    quarantine: list[dict[str, Any]],
    fail_fast: bool,
) -> None:
    """Give every frame of a sequence the pose of its reference frame; quarantine all the
    frames of a sequence whose reference frame has no face (or was not indexed)."""
    sequences: dict[tuple[str, str], list[int]] = {}
    for i, record in enumerate(records):
        if record.sequence is not None and i in results:
            sequences.setdefault((record.dataset, record.sequence), []).append(i)
    for (dataset, sequence), members in sequences.items():
        poses = [results[i].get("face_pose") for i in members if results[i].get("face_pose")]
        if poses:
            for i in members:
                results[i]["face_pose"] = poses[0]
            continue
        for i in members:
            del results[i]
            reason = (
                f"sequence {sequence}: no face pose (its middle frame has no face or could not "
                "be read; see that frame's quarantine row)"
            )
            _reject(quarantine, Rejected(records[i].path, reason, "pose"), dataset, fail_fast)


# ---------------------------------------------------------------------------------- frames
def _row(record: ScanRecord, stats: Mapping[str, Any], job: ValidationJob) -> dict[str, Any]:
    row = asdict(record)
    row["path"] = job.path
    row["extra"] = json.dumps(record.extra, sort_keys=True, default=str)
    row.update({c: stats.get(c) for c in _VALIDATION_COLUMNS})
    st = os.stat(job.path)
    row["file_size"], row["mtime_ns"] = st.st_size, st.st_mtime_ns
    row["fingerprint"] = job.fingerprint()
    return row


def _index_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows → DataFrame with the documented dtypes, whatever values a column happens to hold
    (a column that is all ``None`` in one dataset must not change type)."""
    frame = pd.DataFrame(list(rows), columns=list(INDEX_COLUMNS))
    for column in INDEX_COLUMNS:
        values = [None if _missing(v) else v for v in frame[column]]
        if column in _INT_COLUMNS:
            frame[column] = pd.array(values, dtype="Int64")
        elif column in _BOOL_COLUMNS:
            frame[column] = pd.array(values, dtype="boolean")
        else:
            frame[column] = pd.Series([None if v is None else str(v) for v in values], dtype=_STR)
    # n_frames counts the frames that made it into the index, so frame sampling sees real rows
    is_frame = frame["sequence"].notna()
    if is_frame.any():
        counts = frame[is_frame].groupby(["dataset", "sequence"])["path"].transform("size")
        frame.loc[is_frame, "n_frames"] = counts.astype("Int64")
    return frame.reset_index(drop=True)


def _quarantine_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))
    return frame.astype({c: _STR for c in QUARANTINE_COLUMNS})


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, list, dict)) and bool(pd.isna(value)))


def empty_index() -> pd.DataFrame:
    """An index with no rows and the documented columns and dtypes."""
    return _index_frame([])


def extra_column(index: pd.DataFrame, key: str, default: Any = None) -> pd.Series:
    """One key of the JSON ``extra`` column as a Series (``default`` where absent).

    >>> extra_column(pd.DataFrame({"extra": ['{"task": "T1"}', "{}"]}), "task").tolist()
    ['T1', None]
    """
    values = [
        json.loads(text).get(key, default) if isinstance(text, str) else default
        for text in index["extra"]
    ]
    return pd.Series(values, index=index.index, dtype=object, name=key)

"""Nodes of the ``ingest`` pipeline: thin wrappers around :mod:`facevlm.scans.layouts`.

Ingest indexes and quarantines, nothing more: the folds of a protocol are made by each model
pipeline (a folder of one subject ingests fine; only a protocol needs several).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from facevlm.atomic_files import atomic_write
from facevlm.cores import worker_processes
from facevlm.digests import text_digest

logger = logging.getLogger(__name__)


#: The index column that says which face model made a synthetic subject's face.
FACE_SOURCE = "face_source"
#: What a synthetic set's manifest that names no face source was made with: the generator's
#: procedural faces were its only source before others were added.
DEFAULT_FACE_SOURCE = "procedural"

#: Where the quarantine report of an ingest that found nothing usable is written before it stops
#: (the node raises, so the catalog never saves its outputs).
FAILED_REPORT = Path("data/08_reporting/quarantine_report_failed_ingest.csv")


def _cache_path(cache_dir: str, name: str, root: str) -> Path:
    """The previous index of this (dataset, root): a cache, not an artifact (deleting it only
    costs time)."""
    digest = text_digest(str(root), "sha1", hex_digits=12)
    return Path(cache_dir) / f"{name}-{digest}.parquet"


def index_workers(dataset: dict[str, Any]) -> int:
    """Processes that read and pose the scans: ``dataset.n_workers``, or every available core
    when it is null (as the render stage counts them).

    Why not this process alone by default: the face pose is most of the index's time, and one
    process runs it on one core (its small matrix products gain nothing from a second BLAS
    thread), so a null setting would leave the other cores idle through the longest data stage.
    """
    return worker_processes(dataset.get("n_workers"))


def index_scans(
    raw_scans: dict[str, Any],
    dataset: dict[str, Any],
    cache_dir: str,
    render: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Walk the dataset root, read and validate every scan, and return the scan index and the
    quarantine report (every rejected or skipped entry with its reason).

    Bad files are quarantined and the run goes on, unless ``dataset.fail_fast`` is true. Files
    whose size and modification time are unchanged since the last run (kept in ``cache_dir``,
    ``params:caches.scan_index``) are not parsed again. A manifest without a root (dataset
    ``none``: e.g. the pretraining corpus switched off) gives an empty index.
    ``dataset.limits`` bounds every file read (:class:`~facevlm.scans.formats.limits.ReadLimits`).
    The log prints how every scan-like entry was accounted for.

    The index gains a ``face_source`` column (:func:`with_face_sources`): for the built-in
    synthetic set, which face model made each subject's face (``procedural``, ``ict``), read
    from the set's manifest; empty (``NA``) for scans of real people, who have no face model.
    With ``render.pose: estimate`` the face's pose is estimated here, once per scan and once per
    sequence, recorded in the index (the renders use it) and a mesh without a face is
    quarantined; ``dataset.options.estimate_pose`` overrides that for one dataset.

    Raises:
        ValueError: nothing in the dataset root could be indexed; the message gives the counts
            and the most common reasons, and the report is written to :data:`FAILED_REPORT`.
    """
    from facevlm.render.face_pose import FACE_POSE_ESTIMATOR
    from facevlm.scans.formats.limits import ReadLimits
    from facevlm.scans.layouts import build_scan_index
    from facevlm.scans.layouts.scan_index import QUARANTINE_COLUMNS, empty_index

    if raw_scans.get("root") is None:
        return with_face_sources(empty_index(), raw_scans), pd.DataFrame(
            columns=list(QUARANTINE_COLUMNS)
        )
    limits = ReadLimits.from_params(dataset.get("limits"))
    cache_file = _cache_path(cache_dir, dataset["name"], raw_scans["root"])
    cache = pd.read_parquet(cache_file) if cache_file.exists() else None
    accounting: list = []
    options = dict(dataset.get("options") or {})
    options.setdefault("estimate_pose", (render or {}).get("pose") == "estimate")
    index, quarantine = build_scan_index(
        dataset["name"],
        Path(raw_scans["root"]),
        options,
        fail_fast=bool(dataset.get("fail_fast", False)),
        allow_missing_texture=bool(dataset.get("allow_missing_texture", False)),
        cache=cache,
        n_workers=index_workers(dataset),
        limits=limits,
        accounting=accounting,
        pose_estimator=FACE_POSE_ESTIMATOR,
    )
    if index.empty:  # the counts are in the log already (build_scan_index prints them)
        _stop_with_nothing_indexed(raw_scans["root"], accounting[0], quarantine)
    with atomic_write(cache_file) as tmp:  # a killed run must not leave half a cache behind
        index.to_parquet(tmp, index=False)
    problems = quarantine[quarantine["stage"] != "skipped"]
    for row in problems.head(10).itertuples():
        logger.warning("quarantined [%s] %s: %s", row.stage, row.path, row.reason)
    if len(problems) > 10:
        logger.warning("... and %d more: see the quarantine report", len(problems) - 10)
    return with_face_sources(index, raw_scans), quarantine


def with_face_sources(index: pd.DataFrame, raw_scans: dict[str, Any]) -> pd.DataFrame:
    """``index`` with a :data:`FACE_SOURCE` column: the face model that made each synthetic
    subject's face, as the synthetic manifest records it per layout and subject.

    Why null rather than the dataset's name for real scans: the column answers "which face
    generator", a question with no answer for a person's scan, and a null keeps a real dataset
    out of any per-source figure instead of counting it as one more source. A manifest written
    before face sources existed names none: its faces are :data:`DEFAULT_FACE_SOURCE`. A subject
    the manifest does not list (not expected of a generated set) is left null too.
    """
    from facevlm.scans.layouts.base import SYNTHETIC_PREFIX, base_dataset

    manifest = raw_scans.get("synthetic") or {}
    source_of: dict[tuple[str, str], str] = {}
    for layout, info in (manifest.get("layouts") or {}).items():
        for record in info.get("subjects") or []:
            source = record.get(FACE_SOURCE) or DEFAULT_FACE_SOURCE
            source_of[(layout, str(record["subject"]))] = str(source)
    values = [
        source_of.get((base_dataset(str(dataset)), str(subject)))
        if str(dataset).startswith(SYNTHETIC_PREFIX)
        else None
        for dataset, subject in zip(index["dataset"], index["subject"], strict=True)
    ]
    # the same text dtype as the index's other text columns (pandas' string dtype from 3.0)
    column = pd.Series(values, index=index.index, dtype=object).astype(index["subject"].dtype)
    return index.assign(**{FACE_SOURCE: column})


def _stop_with_nothing_indexed(root: str, counts: Any, quarantine: pd.DataFrame) -> None:
    """Write the report where the user can find it, then raise one message that says why."""
    where = ""
    if len(quarantine):
        FAILED_REPORT.parent.mkdir(parents=True, exist_ok=True)
        quarantine.to_csv(FAILED_REPORT, index=False)
        where = f" The full quarantine report is in {FAILED_REPORT.resolve()}."
    if counts.entries == 0 and not len(quarantine):
        detail = (
            f"found no file that looks like a {counts.layout} scan "
            "(.wrl, .obj, .ply, .bnt) under it; is dataset.name or dataset.root wrong?"
        )
    else:
        detail = f"{counts.summary()}. Most common reasons: {counts.top_reasons()}."
    raise ValueError(
        f"ingest: nothing in the dataset root {root} could be indexed: {detail}{where}"
    )

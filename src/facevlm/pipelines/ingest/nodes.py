"""Nodes of the ``ingest`` pipeline: thin wrappers around :mod:`facevlm.data.layouts`."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

#: Where the previous index of each (dataset, root) is kept so an unchanged file is not parsed
#: again. It is a cache, not an artifact: deleting it only costs time.
INDEX_CACHE_DIR = Path("data/02_intermediate/scan_index_cache")


#: Where the quarantine report of an ingest that found nothing usable is written before it stops
#: (the node raises, so the catalog never saves its outputs).
FAILED_REPORT = Path("data/08_reporting/quarantine_report_failed_ingest.csv")


def _cache_path(name: str, root: str) -> Path:
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
    return INDEX_CACHE_DIR / f"{name}-{digest}.parquet"


def index_scans(
    raw_scans: dict[str, Any], dataset: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Walk the dataset root, read and validate every scan, and return the scan index and the
    quarantine report (every rejected or skipped entry with its reason).

    Bad files are quarantined and the run goes on, unless ``dataset.fail_fast`` is true. Files
    whose size and modification time are unchanged since the last run are not parsed again.
    ``dataset.limits`` bounds every file read (:class:`~facevlm.data.formats.limits.ReadLimits`).
    The log prints how every scan-like entry was accounted for.

    Raises:
        ValueError: nothing in the dataset root could be indexed; the message gives the counts
            and the most common reasons, and the report is written to :data:`FAILED_REPORT`.
    """
    from facevlm.data.formats.limits import ReadLimits
    from facevlm.data.layouts import build_scan_index

    limits = ReadLimits.from_params(dataset.get("limits"))
    cache_file = _cache_path(dataset["name"], raw_scans["root"])
    cache = pd.read_parquet(cache_file) if cache_file.exists() else None
    accounting: list = []
    index, quarantine = build_scan_index(
        dataset["name"],
        Path(raw_scans["root"]),
        dataset.get("options") or {},
        fail_fast=bool(dataset.get("fail_fast", False)),
        allow_missing_texture=bool(dataset.get("allow_missing_texture", False)),
        cache=cache,
        n_workers=dataset.get("n_workers"),
        limits=limits,
        accounting=accounting,
    )
    if index.empty:  # the counts are in the log already (build_scan_index prints them)
        _stop_with_nothing_indexed(raw_scans["root"], accounting[0], quarantine)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    index.to_parquet(cache_file, index=False)
    problems = quarantine[quarantine["stage"] != "skipped"]
    for row in problems.head(10).itertuples():
        logger.warning("quarantined [%s] %s: %s", row.stage, row.path, row.reason)
    if len(problems) > 10:
        logger.warning("... and %d more: see the quarantine report", len(problems) - 10)
    return index, quarantine


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


def make_fold_table(scan_index: pd.DataFrame, protocol: dict[str, Any]) -> pd.DataFrame:
    """The evaluation protocol's folds (subject-independent k-fold, leave-one-subject-out, ...)
    as a table saved next to the scan index."""
    from facevlm.data.protocols import ProtocolConfig, make_folds

    return make_folds(scan_index, ProtocolConfig.from_params(protocol))

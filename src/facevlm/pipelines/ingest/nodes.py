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


def _cache_path(name: str, root: str) -> Path:
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
    return INDEX_CACHE_DIR / f"{name}-{digest}.parquet"


def index_scans(
    raw_scans: dict[str, Any], dataset: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Walk the dataset root, read and validate every scan, and return the scan index and the
    quarantine report (every rejected file with its reason).

    Bad files are quarantined and the run goes on, unless ``dataset.fail_fast`` is true. Files
    whose size and modification time are unchanged since the last run are not parsed again.
    """
    from facevlm.data.layouts import build_scan_index

    cache_file = _cache_path(dataset["name"], raw_scans["root"])
    cache = pd.read_parquet(cache_file) if cache_file.exists() else None
    index, quarantine = build_scan_index(
        dataset["name"],
        Path(raw_scans["root"]),
        dataset.get("options") or {},
        fail_fast=bool(dataset.get("fail_fast", False)),
        allow_missing_texture=bool(dataset.get("allow_missing_texture", False)),
        cache=cache,
        n_workers=dataset.get("n_workers"),
    )
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    index.to_parquet(cache_file, index=False)
    logger.info("indexed %d scans, quarantined %d files", len(index), len(quarantine))
    if len(quarantine):
        for row in quarantine.head(10).itertuples():
            logger.warning("quarantined %s: %s", row.path, row.reason)
    return index, quarantine


def make_fold_table(scan_index: pd.DataFrame, protocol: dict[str, Any]) -> pd.DataFrame:
    """The evaluation protocol's folds (subject-independent k-fold, leave-one-subject-out, ...)
    as a table saved next to the scan index."""
    from facevlm.data.protocols import ProtocolConfig, make_folds

    return make_folds(scan_index, ProtocolConfig.from_params(protocol))

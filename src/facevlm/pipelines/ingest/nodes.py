"""Nodes of the ``ingest`` pipeline: thin wrappers around :mod:`facevlm.data.layouts`.

Ingest indexes and quarantines, nothing more: the folds of a protocol are made by each model
pipeline (a folder of one subject ingests fine; only a protocol needs several).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


def _cache_path(cache_dir: str, name: str, root: str) -> Path:
    """The previous index of this (dataset, root): a cache, not an artifact (deleting it only
    costs time)."""
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{name}-{digest}.parquet"


def index_scans(
    raw_scans: dict[str, Any], dataset: dict[str, Any], cache_dir: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Walk the dataset root, read and validate every scan, and return the scan index and the
    quarantine report (every rejected file with its reason).

    Bad files are quarantined and the run goes on, unless ``dataset.fail_fast`` is true. Files
    whose size and modification time are unchanged since the last run (kept in ``cache_dir``,
    ``params:caches.scan_index``) are not parsed again. A manifest without a root (dataset
    ``none``: e.g. the pretraining corpus switched off) gives an empty index.
    """
    from facevlm.data.layouts import build_scan_index
    from facevlm.data.layouts.scan_index import QUARANTINE_COLUMNS, empty_index

    if raw_scans.get("root") is None:
        return empty_index(), pd.DataFrame(columns=list(QUARANTINE_COLUMNS))
    cache_file = _cache_path(cache_dir, dataset["name"], raw_scans["root"])
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

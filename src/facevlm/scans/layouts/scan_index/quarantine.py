"""The quarantine report: its columns, and how a refused file becomes one of its rows (or, with
``fail_fast``, the :class:`~facevlm.scans.errors.ScanError` that stops the run).

Separate because discovery, validation and the sharing of sequence poses all refuse files the
same way; the report's stages are documented in :mod:`facevlm.scans.layouts.scan_index`.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.base import Rejected
from facevlm.scans.layouts.scan_index.table import _STR

# the index's own logger: records keep the name they had before the index was a package
log = logging.getLogger(__package__)

QUARANTINE_COLUMNS: tuple[str, ...] = ("path", "reason", "dataset", "stage")


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


def _quarantine_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))
    return frame.astype({c: _STR for c in QUARANTINE_COLUMNS})

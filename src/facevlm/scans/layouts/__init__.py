"""Dataset layouts: find the scans of BU-3DFE, BU-4DFE, Bosphorus, BP4D, 4DME and the synthetic
set in their real folder trees, read labels from names and label files, and build the validated
scan index with its quarantine report.

One module per dataset (``bu3dfe``, ``bu4dfe``, ``bosphorus``, ``bp4d``, ``fourdme``,
``synthetic``), the shared contract in :mod:`~facevlm.scans.layouts.base`, and the index in
:mod:`~facevlm.scans.layouts.scan_index`. No Kedro here: pipeline nodes wrap these functions.
"""

from facevlm.scans.layouts.base import (
    LAYOUT_NAMES,
    Candidate,
    Layout,
    Rejected,
    ScanRecord,
    base_dataset,
    get_layout,
)
from facevlm.scans.layouts.scan_index import (
    INDEX_COLUMNS,
    QUARANTINE_COLUMNS,
    build_scan_index,
    empty_index,
    extra_column,
)

__all__ = [
    "INDEX_COLUMNS",
    "LAYOUT_NAMES",
    "QUARANTINE_COLUMNS",
    "Candidate",
    "Layout",
    "Rejected",
    "ScanRecord",
    "base_dataset",
    "build_scan_index",
    "empty_index",
    "extra_column",
    "get_layout",
]

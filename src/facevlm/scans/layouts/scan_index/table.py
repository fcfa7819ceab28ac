"""The scan index as a table: its columns and dtypes, one row from a record and its validation,
the DataFrame with the documented dtypes, and the JSON ``extra`` column read back.

Separate from discovery and validation because the table's schema is what every later stage
(and a cached index read back from Parquet) relies on: the column order and dtypes live in one
place, documented in :mod:`facevlm.scans.layouts.scan_index`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

import pandas as pd

from facevlm.scans.layouts.base import ScanRecord
from facevlm.scans.layouts.scan_index.jobs import ValidationJob

INDEX_COLUMNS: tuple[str, ...] = (
    "dataset", "subject", "gender", "age", "ethnicity", "expression", "label_set", "intensity",
    "sequence", "frame", "n_frames", "path", "texture_path", "landmarks_path",
    "n_vertices", "n_polygons", "has_uv", "has_texture", "n_landmarks",
    "file_size", "mtime_ns", "fingerprint", "extra", "face_pose",
)  # fmt: skip

_INT_COLUMNS = ("age", "intensity", "frame", "n_frames", "n_vertices", "n_polygons",
                "n_landmarks", "file_size", "mtime_ns")  # fmt: skip
_BOOL_COLUMNS = ("has_uv", "has_texture")
#: Text columns: pandas' own string dtype from pandas 3 (missing = NaN), plain objects before.
_STR: Any = "str" if int(pd.__version__.split(".")[0]) >= 3 else object
#: Columns produced by validation, the ones a cache hit reuses.
_VALIDATION_COLUMNS = ("texture_path", "landmarks_path", "n_vertices", "n_polygons", "has_uv",
                       "has_texture", "n_landmarks", "face_pose")  # fmt: skip


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

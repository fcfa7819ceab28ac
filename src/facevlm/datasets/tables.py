"""A versioned Parquet table whose Kedro-Viz preview can be serialised.

The scan index and the render sample table hold list columns (``frame_paths``, landmarks);
``pandas.ParquetDataset.preview()`` hands them to Kedro-Viz as numpy arrays, and
``kedro viz build`` then stops with "Unable to serialize unknown type: numpy.ndarray". This
subclass previews the first rows with such cells as short text, and changes nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from kedro_datasets._typing import TablePreview
from kedro_datasets.pandas import ParquetDataset

#: Longest text a preview cell shows.
_MAX_CELL = 80


def _cell(value: Any) -> Any:
    """A JSON-safe preview cell: scalars as they are, arrays, lists and others as short text."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def table_preview(frame: pd.DataFrame, nrows: int = 5) -> TablePreview:
    """Kedro-Viz's ``split`` table layout of the first ``nrows`` rows, every cell JSON-safe."""
    head = frame.head(nrows)
    return TablePreview(
        {
            "index": [_cell(i) for i in head.index],
            "columns": [str(c) for c in head.columns],
            "data": [[_cell(v) for v in row] for row in head.itertuples(index=False)],
        }
    )


class PreviewableParquetDataset(ParquetDataset):
    """``pandas.ParquetDataset`` with a preview Kedro-Viz can serialise (list columns as text)."""

    def preview(self, nrows: int = 5) -> TablePreview:
        return table_preview(self.load(), nrows)

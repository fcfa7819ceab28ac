"""A content-keyed cache of rendered views, so re-running a pipeline does not render again.

``kedro run --pipeline=train_smile`` must run or *reuse* the data stages it needs. Kedro reruns
every node it is given, so reuse happens here: the views of a scan are stored under a key made of
the scan file's path, size and modification time and the render settings. Changing a scan, the
views, the size or the modality changes the key; nothing else does. The cache is disposable:
deleting the folder only costs time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from facevlm.atomic_files import atomic_write
from facevlm.digests import text_digest

#: What an entry is made from: one scan file, or the files of several frames pooled into one.
CacheSource = str | Path | tuple[str | Path, ...]


class RenderCache:
    """Views of one scan under one set of render settings, stored as ``<key>.npy``."""

    def __init__(self, folder: str | Path, settings: dict[str, Any]):
        self.folder = Path(folder)
        self._settings_key = json.dumps(settings, sort_keys=True, default=str)

    def key(self, source: CacheSource, variant: str = "") -> str:
        """The entry's name: the identity of one scan file, or of several whose views are made
        together (e.g. an onset and an apex frame pooled into one surface-motion map), and the
        ``variant`` it was rendered in (e.g. the face pose of its sequence, which another file
        decides)."""
        files = source if isinstance(source, tuple) else (source,)
        identities = []
        for scan_path in files:
            stat = Path(scan_path).stat()
            identities.append(f"{Path(scan_path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}")
        text = "|".join([*identities, self._settings_key, *([variant] if variant else [])])
        return text_digest(text, "sha1")

    def _file(self, source: CacheSource, variant: str = "") -> Path:
        return self.folder / f"{self.key(source, variant)}.npy"

    def get(self, source: CacheSource, variant: str = "") -> np.ndarray | None:
        """The cached ``(V, H, W, 3)`` views, or None when absent or unreadable."""
        try:
            return np.load(self._file(source, variant))
        except (OSError, ValueError):
            return None

    def put(self, source: CacheSource, views: np.ndarray, variant: str = "") -> None:
        # atomic: a run killed while writing never leaves half an entry that reads as whole
        with atomic_write(self._file(source, variant)) as tmp, tmp.open("wb") as out:
            np.save(out, views)

"""The plumbing our single-file, versioned catalog datasets share.

``ModelBundleDataset`` and ``PretrainedWeightsDataset`` each write one local file per version
(``<filepath>/<version>/<name>``) and differ only in what they put in it. This base holds the
rest: construction, description, the resolved load and save paths, and existence.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from kedro.io.core import AbstractVersionedDataset, Version, get_filepath_str

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class LocalVersionedFileDataset(AbstractVersionedDataset[_In, _Out]):
    """A versioned dataset stored as one file on the local disk; subclasses define load/save."""

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(filepath), version=version)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _load_file(self) -> Path:
        """The file of the version to load (the newest unless one was pinned)."""
        return Path(get_filepath_str(self._get_load_path(), ""))

    def _save_file(self) -> Path:
        """The file of the version being saved, its folder created."""
        path = Path(get_filepath_str(self._get_save_path(), ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _exists(self) -> bool:
        try:
            return self._load_file().exists()
        except Exception:  # noqa: BLE001 - no version yet
            return False

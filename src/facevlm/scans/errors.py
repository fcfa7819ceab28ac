"""The one error type that every reader raises for bad input.

A researcher pointing the project at thousands of scans needs to know *which* file is bad and
*why*, in one line, without a traceback. Every reader converts whatever goes wrong while parsing
(truncation, NaN coordinates, out-of-range indices, absurd declared sizes) into ``ScanError``;
ingest catches exactly this type to quarantine a file and carry on.
"""

from __future__ import annotations

from pathlib import Path


class ScanError(ValueError):
    """A scan file that cannot be used, with the file and the reason.

    >>> str(ScanError("F0001/x.wrl", "truncated: coordIndex never closed"))
    'F0001/x.wrl: truncated: coordIndex never closed'
    """

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path is not None else reason)

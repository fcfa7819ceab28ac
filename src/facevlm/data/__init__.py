"""Scans on disk: the in-memory mesh type, file formats, dataset layouts and the synthetic set."""

from facevlm.data.errors import ScanError
from facevlm.data.mesh import FaceMesh

__all__ = ["FaceMesh", "ScanError"]

"""Scans on disk: the in-memory mesh type, file formats, dataset layouts, labels and protocols.

The built-in generator that writes scans in these formats is its own package,
:mod:`facevlm.synthetic`. (Named ``scans``, not ``data``: the project's ``data/`` folder holds
the catalog's files.)
"""

from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

__all__ = ["FaceMesh", "ScanError"]

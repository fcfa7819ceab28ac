"""How large a scan may be: the limits that keep reading a hostile file cheap.

A reader that believes a file's sizes can be made to read a 640 MB all-zero ``.bnt`` as a
16-million-vertex mesh (4 GB of memory), or to decode a 370-byte PNG that declares 100,000 x
100,000 pixels. Every declared or measured size is therefore compared with one of these limits
*before* the memory is spent, and a file above a limit is refused with a reason naming the limit
(the parameter to raise if the file is genuine).

The defaults are ten or more times the largest scans of the supported datasets (a BP4D frame has
about 60,000 vertices and 120,000 triangles, a Bosphorus texture 1600 x 1200 pixels), and keep
the memory of reading one file to a few hundred MB. Ingest takes them from ``params:dataset``
(``limits:``); the CLI and the app use the defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facevlm.scans.errors import ScanError

MB = 2**20

#: Corners one polygon may have. Scans are triangles and quads, with at most a few polygons of
#: hundreds of corners closing a hole; every corner of a polygon becomes a triangle when it is
#: drawn (about 200 bytes of memory each), so one polygon of millions of corners is a bomb.
MAX_POLYGON_CORNERS = 10_000


@dataclass(frozen=True)
class ReadLimits:
    """Upper bounds on one scan; each is a parameter of ``dataset.limits``.

    Attributes:
        max_scan_bytes: size of a mesh file (and of a landmark or material file beside it).
        max_texture_bytes: size of a texture image file.
        max_vertices: vertices of a mesh, texture coordinates of a mesh, points of a ``.bnt``
            grid (background included).
        max_polygons: polygons of a mesh.
        max_texture_pixels: width x height of a texture image, read from its header before
            anything is decoded (PIL's decompression-bomb check is far higher, ~179 Mpx).
    """

    max_scan_bytes: int = 256 * MB
    max_texture_bytes: int = 64 * MB
    max_vertices: int = 1_000_000
    max_polygons: int = 2_000_000
    max_texture_pixels: int = 50_000_000

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"limits: {spec.name} must be a positive integer, got {value!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> ReadLimits:
        """Limits from a params mapping (missing keys keep their defaults, unknown keys are an
        error, so that a typo does not silently leave a limit at its default).

        >>> ReadLimits.from_params({"max_vertices": 10}).max_vertices
        10
        """
        params = dict(params or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"limits: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**params)


#: The limits used where none are given (CLI, app, direct reader calls).
DEFAULT_LIMITS = ReadLimits()


def describe_bytes(n: int) -> str:
    """``123 bytes``, ``4.5 MB``: sizes in messages.

    >>> describe_bytes(640 * MB)
    '640.0 MiB'
    """
    return f"{n} bytes" if n < MB else f"{n / MB:.1f} MiB"


def max_fan_triangles(limits: ReadLimits) -> int:
    """Triangles the polygons of one mesh may fan into: those of quads at the polygon limit."""
    return 2 * limits.max_polygons


def check_polygon_corners(arity: np.ndarray, limits: ReadLimits, path: str | Path | None) -> None:
    """Refuse polygons that would cost more than the limits allow once drawn, from their corner
    counts alone (``arity``: corners of each polygon), before any per-corner array is made.

    A polygon may have at most :data:`MAX_POLYGON_CORNERS` corners, and all of them together may
    fan into at most :func:`max_fan_triangles` triangles.

    Raises:
        ScanError: naming the widest polygon or the triangle total, and the limit.
    """
    if not len(arity):
        return
    widest = int(np.argmax(arity))
    if arity[widest] > MAX_POLYGON_CORNERS:
        raise ScanError(
            path,
            f"polygon {widest} has {int(arity[widest])} corners, above the "
            f"{MAX_POLYGON_CORNERS} a polygon may have",
        )
    triangles = int(np.sum(arity)) - 2 * len(arity)
    if triangles > max_fan_triangles(limits):
        raise ScanError(
            path,
            f"the polygons fan into {triangles} triangles, above the limit of "
            f"{max_fan_triangles(limits)} (2 x limits.max_polygons)",
        )

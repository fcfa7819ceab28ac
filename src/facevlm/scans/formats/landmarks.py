"""Landmark files: BU-3DFE/BU-4DFE ``.bnd``/``.landmark`` and Bosphorus ``.lm3``.

Two different ideas of a landmark. A ``.bnd`` line is ``<vertex index> <x> <y> <z>``: the index
points into the *shared* vertices of the ``_F3D.wrl`` mesh (one reason the VRML reader must not
split vertices), so it is checked against the mesh's vertex count when that is known. A ``.lm3``
file is a list of *labelled* points; occluded landmarks are simply left out, so it is parsed by
label and callers must not assume a fixed count or order.

These files are small (≤ 100 lines), so plain line-by-line parsing is clear and fast enough.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import (
    COMPANION_MAX_BYTES,
    ReadScope,
    reports_scan_errors,
    scope_for,
)

_MAX_INDEX = 2**53  # beyond this a float index is no longer exact
_LM3_HEADER = re.compile(r"^(\d+)\s+landmarks?\s*:?$", re.IGNORECASE)


# ------------------------------------------------------------------------------------- .bnd
@reports_scan_errors
def read_bnd(
    path: str | Path, n_vertices: int | None = None, *, scope: ReadScope | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``<index> <x> <y> <z>`` lines (tabs or spaces; also BU-4DFE ``.landmark``).

    Args:
        n_vertices: vertex count of the mesh the indices refer to; when given, an index outside
            ``0 .. n_vertices - 1`` is an error.
        scope: where the file may be read from (default: its own folder).

    Returns:
        ``(indices, points)``: int64 ``(L,)`` 0-based vertex indices and float64 ``(L, 3)``.

    Raises:
        ScanError: empty file, a line without exactly four fields, a non-integer or negative or
            out-of-range index, or a coordinate that is not a finite number.
    """
    path = Path(path)
    indices: list[int] = []
    points: list[tuple[float, float, float]] = []
    text = _read_small_text(path, scope)
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4:
            raise ScanError(
                path, f"line {number}: expected '<index> <x> <y> <z>', got {len(fields)} fields"
            )
        index = _parse_index(fields[0], path, number)
        if index < 0 or (n_vertices is not None and index >= n_vertices):
            limit = "" if n_vertices is None else f" (mesh has {n_vertices} vertices)"
            raise ScanError(path, f"line {number}: vertex index {index} out of range{limit}")
        indices.append(index)
        points.append(_parse_point(fields[1:], path, number))
    if not indices:
        raise ScanError(path, "no landmarks")
    return np.array(indices, dtype=np.int64), np.array(points, dtype=np.float64)


def _read_small_text(path: Path, scope: ReadScope | None) -> str:
    """A landmark file through the scope, at most :data:`COMPANION_MAX_BYTES` (they are tiny)."""
    return scope_for(path, scope).read_text(
        path, what="landmark file", max_bytes=COMPANION_MAX_BYTES, limit_name="(landmark files)"
    )


def _parse_index(field: str, path: Path, number: int) -> int:
    if "_" in field:
        raise ScanError(path, f"line {number}: vertex index {field!r} is not a number")
    try:
        value = float(field)
    except ValueError:
        raise ScanError(path, f"line {number}: vertex index {field!r} is not a number") from None
    if not value.is_integer() or abs(value) > _MAX_INDEX:
        raise ScanError(path, f"line {number}: vertex index {field!r} is not a usable integer")
    return int(value)


def _parse_point(fields: list[str], path: Path, number: int) -> tuple[float, float, float]:
    if any("_" in f for f in fields):
        raise ScanError(path, f"line {number}: coordinates {' '.join(fields)!r} are not numbers")
    try:
        x, y, z = (float(f) for f in fields)
    except ValueError:
        raise ScanError(
            path, f"line {number}: coordinates {' '.join(fields)!r} are not numbers"
        ) from None
    if not all(math.isfinite(c) for c in (x, y, z)):
        raise ScanError(path, f"line {number}: coordinates are NaN or infinite")
    return x, y, z


def write_bnd(path: str | Path, indices: np.ndarray, points: np.ndarray) -> None:
    """Write ``<index>\\t<x>\\t<y>\\t<z>`` lines (floats in shortest round-trip form).

    Raises:
        ValueError: ``indices`` and ``points`` differ in length, points are not ``(L, 3)``, or
            an index is negative.
    """
    indices = np.asarray(indices, dtype=np.int64).ravel()
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) != len(indices):
        raise ValueError(
            f"need (L,) indices and (L, 3) points, got {indices.shape} and {points.shape}"
        )
    if len(indices) and indices.min() < 0:
        raise ValueError("landmark vertex indices must be non-negative")
    lines = [
        f"{i}\t{x!r}\t{y!r}\t{z!r}\n"
        for i, (x, y, z) in zip(indices.tolist(), points.tolist(), strict=True)
    ]
    Path(path).write_text("".join(lines), encoding="utf-8", newline="\n")


# ------------------------------------------------------------------------------------- .lm3
@reports_scan_errors
def read_lm3(path: str | Path, *, scope: ReadScope | None = None) -> dict[str, np.ndarray]:
    """Read a Bosphorus ``.lm3`` file into ``{label: (3,) float64}``.

    ``#`` lines and blank lines are dropped; the first remaining line is ``N landmarks:``; then
    a label line and an ``x y z`` line alternate. Landmarks that are absent from the file (occluded)
    are absent from the result.

    Raises:
        ScanError: no ``N landmarks:`` header, a label without coordinates (or the reverse), a
            repeated label, non-finite coordinates, or a count that disagrees with ``N``.
    """
    path = Path(path)
    lines = [line.strip() for line in _read_small_text(path, scope).splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines or (header := _LM3_HEADER.match(lines[0])) is None:
        raise ScanError(path, "missing 'N landmarks:' header")
    declared = int(header[1])

    result: dict[str, np.ndarray] = {}
    label: str | None = None
    for number, line in enumerate(lines[1:], start=2):
        point = _try_point(line)
        if point is None:
            if label is not None:
                raise ScanError(path, f"landmark {label!r} has no coordinates")
            if line in result:
                raise ScanError(path, f"landmark {line!r} appears twice")
            label = line
            continue
        if label is None:
            raise ScanError(path, f"coordinates {line!r} without a label (entry {number})")
        if not np.all(np.isfinite(point)):
            raise ScanError(path, f"landmark {label!r} has NaN or infinite coordinates")
        result[label] = point
        label = None
    if label is not None:
        raise ScanError(path, f"truncated: landmark {label!r} has no coordinates")
    if len(result) != declared:
        raise ScanError(path, f"header declares {declared} landmarks, file holds {len(result)}")
    return result


def _try_point(line: str) -> np.ndarray | None:
    """``x y z`` as a (3,) array, or None if the line is not three numbers (so it is a label)."""
    fields = line.split()
    if len(fields) != 3 or "_" in line:  # float() would read "1_0" as 10
        return None
    try:
        return np.array([float(f) for f in fields], dtype=np.float64)
    except ValueError:
        return None


def write_lm3(path: str | Path, labelled_points: dict[str, np.ndarray]) -> None:
    """Write ``{label: (x, y, z)}`` in the Bosphorus ``.lm3`` layout.

    Raises:
        ValueError: a label that is empty, spans lines, starts with ``#`` or reads as
            coordinates (it could not be read back), or a point that is not three numbers.
    """
    out = ["# LANDMARKS 3D\n\n", f"{len(labelled_points)} landmarks:\n"]
    for label, point in labelled_points.items():
        clean = label.strip()
        if (
            not clean
            or clean != label
            or "\n" in label
            or "\r" in label
            or label.startswith("#")
            or _try_point(label) is not None
        ):
            raise ValueError(f"landmark label {label!r} cannot be written to an .lm3 file")
        values = np.asarray(point, dtype=np.float64).ravel()
        if values.shape != (3,):
            raise ValueError(f"landmark {label!r}: expected 3 coordinates, got {values.shape}")
        x, y, z = values.tolist()
        out.append(f"{label}\n{x!r} {y!r} {z!r}\n")
    Path(path).write_text("".join(out), encoding="utf-8", newline="\n")

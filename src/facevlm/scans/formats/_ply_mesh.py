"""From the read PLY elements to a :class:`~facevlm.scans.mesh.FaceMesh`: vertices, polygons of
any arity, per-vertex or face-varying texture coordinates, and per-vertex colours on their
declared scale.

Separate because it is the same for ascii and binary files, and it decides what the values mean
(property names, colour scales), not how they are stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._ply_header import _Values
from facevlm.scans.formats.limits import ReadLimits, check_polygon_corners
from facevlm.scans.mesh import FaceMesh
from facevlm.scans.point_clouds import triangulate_depth_cloud

_UV_NAMES = (("s", "t"), ("u", "v"), ("texture_u", "texture_v"), ("texture_s", "texture_t"))
#: Per-vertex colour property names, in order of preference: PLY's usual names, the
#: ``diffuse_`` names some scanners and Meshlab versions write, and the one-letter short form.
_COLOUR_NAMES = (
    ("red", "green", "blue"),
    ("diffuse_red", "diffuse_green", "diffuse_blue"),
    ("r", "g", "b"),
)


def _to_mesh(
    values: _Values, declared: dict[str, str], path: Path, warnings: list[str], limits: ReadLimits
) -> FaceMesh:
    """The mesh of the read elements; ``declared`` maps vertex property names to their type
    codes (ascii values are all parsed as float64, so the header says what they were)."""
    vertex = values.get("vertex")
    if vertex is None or not {"x", "y", "z"} <= vertex.keys():
        raise ScanError(path, "no vertex element with x, y, z")
    vertices = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in "xyz"], axis=1)
    face = values.get("face")
    key = next((k for k in ("vertex_indices", "vertex_index") if k in (face or {})), None)
    if face is not None and (key is None or not isinstance(face[key], tuple)):
        raise ScanError(path, "face element has no vertex_indices list")
    if face is None or len(face[key][1]) == 0:
        # points only: a depth camera's capture, triangulated as the camera saw it
        colours = _vertex_colours(vertex, declared, path, warnings)
        return triangulate_depth_cloud(vertices, path, colours, warnings)
    flat, arity = face[key]
    check_polygon_corners(arity, limits, path)
    indices = _as_indices(flat, path)
    offsets = np.zeros(len(arity) + 1, dtype=np.int64)
    np.cumsum(arity, out=offsets[1:])

    uv = uv_indices = None
    if isinstance(face.get("texcoord"), tuple):
        coords, n = face["texcoord"]
        if not np.array_equal(n, 2 * arity):
            raise ScanError(path, "face texcoord lists are not 2 numbers per corner")
        # One UV per distinct (u, v) pair; a complex view sorts pairs far faster than axis=0.
        corner_uv = np.ascontiguousarray(coords, dtype=np.float64).reshape(-1, 2)
        pairs, uv_indices = np.unique(corner_uv.view(np.complex128).ravel(), return_inverse=True)
        uv = pairs.view(np.float64).reshape(-1, 2)
        uv_indices = uv_indices.reshape(-1).astype(np.int64)
    else:
        names = next((pair for pair in _UV_NAMES if set(pair) <= vertex.keys()), None)
        if names is not None:
            uv = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in names], axis=1)

    colors = _vertex_colours(vertex, declared, path, warnings)
    return FaceMesh(vertices, offsets, indices, uv=uv, uv_indices=uv_indices, vertex_colors=colors)


def _vertex_colours(
    vertex: dict, declared: dict[str, str], path: Path, warnings: list[str]
) -> np.ndarray | None:
    """uint8 colours from the first complete set of :data:`_COLOUR_NAMES`, or None.

    The scale follows the declared type: ``uchar`` is 0..255, ``ushort`` 0..65535 (16-bit
    depth-camera colour), floats 0..1 (Open3D, PCL) unless a value exceeds 1, in which case
    they hold 0..255 (some exporters write 8-bit values as floats). Colours that fit none of
    these (negative, NaN, beyond the type's range) are dropped with a warning rather than
    refusing the geometry. Alpha, when present, is ignored: the renderer draws opaque faces.
    """
    names = next((n for n in _COLOUR_NAMES if set(n) <= vertex.keys()), None)
    if names is None:
        return None
    rgb = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in names], axis=1)
    kinds = {declared.get(k, "f8") for k in names}
    if not np.isfinite(rgb).all() or rgb.min(initial=0) < 0:
        warnings.append("vertex colours dropped: negative, NaN or infinite values")
        return None
    top = rgb.max(initial=0)
    if kinds <= {"u1", "i1"} or (kinds & {"f4", "f8"} and 1 < top <= 255):
        scale = 1.0
    elif kinds & {"f4", "f8"}:
        scale = 255.0
    elif top <= 255:
        scale = 1.0  # a wider integer type holding 8-bit values
    else:
        scale = 255.0 / 65535.0
    rgb = rgb * scale
    if rgb.max(initial=0) > 255.5:
        warnings.append(f"vertex colours dropped: values up to {top:g} fit no colour scale")
        return None
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _as_indices(flat: np.ndarray, path: Path) -> np.ndarray:
    if flat.dtype.kind == "f":
        if not np.isfinite(flat).all() or not (flat == np.round(flat)).all():
            raise ScanError(path, "face vertex indices are not integers")
        if len(flat) and np.abs(flat).max() > 2**53:
            raise ScanError(path, "face vertex index too large")
    return flat.astype(np.int64)

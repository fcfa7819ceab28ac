"""VRML 2.0 ``IndexedFaceSet`` meshes, as BU-3DFE and BU-4DFE store their scans.

A ``.wrl`` may also be VRML 1.0 (laser scanners, older face databases): :func:`read_vrml` reads
the header line and hands such a file to :mod:`.vrml1`, so callers need not know the version.
Either may be gzip-compressed, as the VRML specification allows; it is decompressed within the
same size limit as an uncompressed file.

Why a reader of our own: VTK's importer (``pyvista.read``) gives every polygon corner its own
point (a 7,968-vertex BU-3DFE scan becomes 45,804 points), which destroys the shared-vertex
connectivity, smooth shading and landmark indices (``.bnd`` files index the *shared* vertices).
This reader keeps the file's structure: shared vertices, polygons of any arity, and the separate
``texCoordIndex`` as face-varying UVs.

How it stays fast: a scan file is a small tree of nodes wrapped around four large numeric lists
(``point``, ``coordIndex``, ``TextureCoordinate point``, ``texCoordIndex``). ``bytes.find``
locates each list's keyword in the raw bytes, the bracketed block is sliced out whole and parsed
in bulk (:mod:`._numbers`); no Python code runs per number, and no byte of the numeric lists is
searched twice. On a 35,000-vertex BU-4DFE-like frame this reads faster than ``pyvista.read``
(``benchmarks/scan_formats.py speed``). Only the texture ``url`` is ever decoded as text, so
non-UTF-8 garbage elsewhere surfaces as a bad-number error, not a UnicodeDecodeError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import (
    ReadScope,
    gunzip_bounded,
    reports_scan_errors,
    scope_for,
)
from facevlm.scans.formats._numbers import parse_floats, parse_ints
from facevlm.scans.formats._textures import resolve_texture, safe_relative
from facevlm.scans.formats._vrml_syntax import (
    LEADING_SPACE,
    find_all,
    find_field,
    split_polygons,
    strip_comments,
)
from facevlm.scans.formats.limits import check_polygon_corners
from facevlm.scans.formats.vrml1 import HEADER as VRML1_HEADER
from facevlm.scans.formats.vrml1 import parse_vrml1
from facevlm.scans.mesh import FaceMesh

HEADER = b"#VRML V2.0"

#: Each list is found as ``<keyword><tail>``: the keyword by ``bytes.find`` (a C scan; a regex
#: starting with ``\b`` would be tried at every one of the file's millions of positions), the
#: tail by an anchored match.
_FACE_SET = (b"IndexedFaceSet", re.compile(rb"\s*\{"))
_COORD_POINT = (b"Coordinate", re.compile(rb"\s*\{\s*point\s*\["))
_TEX_POINT = (b"TextureCoordinate", re.compile(rb"\s*\{\s*point\s*\["))
_COORD_INDEX = (b"coordIndex", re.compile(rb"\s*\["))
_TEX_INDEX = (b"texCoordIndex", re.compile(rb"\s*\["))
_URL = (b"ImageTexture", re.compile(rb'\s*\{[^{}]*?\burl\s*\[?\s*"([^"]*)"'))


@dataclass
class _FaceSet:
    """The geometry of one ``IndexedFaceSet`` node, indices local to it."""

    vertices: np.ndarray
    offsets: np.ndarray
    indices: np.ndarray
    uv: np.ndarray | None
    uv_indices: np.ndarray | None


# ---------------------------------------------------------------------------------- reading
@reports_scan_errors
def read_vrml(
    path: str | Path,
    *,
    texture_fallback: str | Path | None = None,
    scope: ReadScope | None = None,
) -> FaceMesh:
    """Read a VRML 2.0 face scan into a :class:`FaceMesh`, keeping shared vertices.

    A ``#VRML V1.0`` file is read by :func:`~facevlm.scans.formats.vrml1.parse_vrml1` (same
    arguments, same result type), so ``.wrl`` files of either version read through here.

    Args:
        path: the ``.wrl`` file.
        texture_fallback: texture to use when the file names none, or names a missing one
            (BU-4DFE: ``<NNN>.jpg``); a relative path is taken from the file's folder.
        scope: where the file and its texture may be read from and the size limits (default:
            the file's own folder, default limits).

    The texture ``url`` is resolved relative to the file's folder. A missing texture gives
    ``texture_path=None`` and a note in ``mesh.metadata["warnings"]``.

    Raises:
        ScanError: the file is not VRML, is truncated, holds bad numbers, indices out of
            range, NaN or absurd coordinates, no polygons, more vertices or polygons than the
            limits allow, or a texture url that is absolute or escapes the folder (or the scope,
            through a symbolic link).
    """
    path = Path(path)
    scope = scope_for(path, scope)
    data = gunzip_bounded(scope.read_bytes(path), scope.limits.max_scan_bytes, path)
    header_end, version = _header_end(data, path)
    if version == 1:
        return parse_vrml1(data, header_end, path, scope, texture_fallback)
    body, start = strip_comments(data, header_end)
    # One C pass tells the usual single-node file apart; it is then parsed without searching
    # the megabytes of numbers again for a second node.
    if body.count(_FACE_SET[0], start) > 1:
        starts = find_all(body, _FACE_SET, start)
    else:
        match = find_field(body, _FACE_SET, start, len(body))
        starts = [] if match is None else [match.start() - len(_FACE_SET[0])]
    if not starts:
        raise ScanError(path, "no IndexedFaceSet node")
    bounds = list(zip(starts, starts[1:] + [len(body)], strict=True))
    parsed = [_read_face_set(body, lo, hi, path, scope) for lo, hi in bounds]
    face_sets = [face_set for face_set, _ in parsed]

    if len(parsed) == 1:  # the url sits before or after the geometry, never inside its lists
        url = _texture_url(body, start, starts[0], path)
        if url is None:
            url = _texture_url(body, parsed[0][1], len(body), path)
    else:
        url = _texture_url(body, start, len(body), path)
    warnings: list[str] = []
    fallbacks = [] if texture_fallback is None else [path.parent / Path(texture_fallback)]
    texture = resolve_texture(url, path.parent, path, warnings, fallbacks, scope)

    mesh = _merge(face_sets, path, warnings)
    mesh.texture_path = texture
    mesh.source = path
    mesh.metadata.update(
        {"format": "vrml", "texture_url": url, "n_face_sets": len(face_sets), "warnings": warnings}
    )
    return mesh.validate(path)


def _header_end(data: bytes, path: Path) -> tuple[int, int]:
    """Offset just after the ``#VRML V2.0`` or ``#VRML V1.0`` line, and the major version;
    any other header is refused."""
    first = LEADING_SPACE.match(data, 3 if data.startswith(b"\xef\xbb\xbf") else 0).end()
    if data.startswith(HEADER, first):
        version = 2
    elif data.startswith(VRML1_HEADER, first):
        version = 1
    else:
        raise ScanError(path, "not a VRML file (no '#VRML V2.0' or '#VRML V1.0' header)")
    end = data.find(b"\n", first)
    return (len(data) if end < 0 else end + 1), version


class _Lists:
    """Takes the bracketed lists out of one IndexedFaceSet, each searched for only in the parts
    of the node not already known to be a list (fields may come in any order)."""

    def __init__(self, body: bytes, start: int, end: int, path: Path):
        self.body, self.path = body, path
        self.gaps = [(start, end)]
        self.extent = start  # offset just after the last list taken

    def take(self, field: tuple[bytes, re.Pattern], what: str, required: bool) -> bytes | None:
        """The bytes between ``<field> [`` and its ``]``; None if the field is absent."""
        for k, (lo, hi) in enumerate(self.gaps):
            match = find_field(self.body, field, lo, hi)
            if match is not None:
                return self._cut(k, match, what)
        if required:
            raise ScanError(self.path, f"IndexedFaceSet has no {what}")
        return None

    def _cut(self, k: int, match: re.Match, what: str) -> bytes:
        lo, hi = self.gaps[k]
        close = self.body.find(b"]", match.end(), hi)
        if close < 0:
            raise ScanError(self.path, f"truncated: {what} list never closed")
        self.gaps[k : k + 1] = [(lo, match.start()), (close + 1, hi)]
        self.extent = max(self.extent, close + 1)
        return self.body[match.end() : close]


def _read_face_set(
    body: bytes, start: int, end: int, path: Path, scope: ReadScope
) -> tuple[_FaceSet, int]:
    """Parse the four numeric lists of one IndexedFaceSet node; also return where they end.

    Each list's length is bounded by the limits before it is parsed (:mod:`._numbers`): up to
    ``max_vertices`` points, and index lists of up to 8 numbers per allowed polygon.
    """
    limits = scope.limits
    max_index_numbers = 8 * limits.max_polygons
    lists = _Lists(body, start, end, path)
    coords = parse_floats(
        lists.take(_COORD_POINT, "coord Coordinate point", required=True),
        path,
        "coord point",
        max_count=3 * limits.max_vertices,
    )
    if len(coords) % 3:
        raise ScanError(path, f"coord point list has {len(coords)} numbers, not x y z triples")
    offsets, indices = split_polygons(
        parse_ints(
            lists.take(_COORD_INDEX, "coordIndex", required=True),
            path,
            "coordIndex",
            max_count=max_index_numbers,
        ),
        path,
        "coordIndex",
    )
    check_polygon_corners(np.diff(offsets), limits, path)
    # Checked per node: once several nodes are merged, an index past this node's points would
    # silently land on the next node's vertices.
    if len(indices) and indices.max() >= len(coords) // 3:
        raise ScanError(
            path,
            f"coordIndex {int(indices.max())} out of range (its Coordinate has "
            f"{len(coords) // 3} points)",
        )

    uv = uv_indices = None
    uv_block = lists.take(_TEX_POINT, "TextureCoordinate point", required=False)
    if uv_block is not None:
        uv = parse_floats(
            uv_block, path, "TextureCoordinate point", max_count=2 * limits.max_vertices
        )
        if len(uv) % 2:
            raise ScanError(path, f"TextureCoordinate list has {len(uv)} numbers, not u v pairs")
        uv = uv.reshape(-1, 2)
        index_block = lists.take(_TEX_INDEX, "texCoordIndex", required=False)
        if index_block is not None:
            uv_offsets, uv_indices = split_polygons(
                parse_ints(index_block, path, "texCoordIndex", max_count=max_index_numbers),
                path,
                "texCoordIndex",
            )
            if not np.array_equal(uv_offsets, offsets):
                raise ScanError(
                    path,
                    "texCoordIndex does not have the polygon structure of "
                    f"coordIndex ({len(uv_offsets) - 1} vs {len(offsets) - 1} "
                    "polygons or different corner counts)",
                )
            if len(uv_indices) and uv_indices.max() >= len(uv):
                raise ScanError(
                    path,
                    f"texture coordinate index {int(uv_indices.max())} out of range (its "
                    f"TextureCoordinate has {len(uv)} points)",
                )
    return _FaceSet(coords.reshape(-1, 3), offsets, indices, uv, uv_indices), lists.extent


def _texture_url(body: bytes, start: int, end: int, path: Path) -> str | None:
    """The first ``ImageTexture`` url in ``body[start:end]``, decoded; None if there is none."""
    match = find_field(body, _URL, start, end)
    if match is None:
        return None
    try:
        url = match[1].decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ScanError(path, "texture url is not UTF-8 text") from None
    return url or None  # url "" names no texture


def _merge(face_sets: list[_FaceSet], path: Path, warnings: list[str]) -> FaceMesh:
    """One FaceMesh from one or more IndexedFaceSets (indices shifted, UVs kept if all have them)."""
    if len(face_sets) == 1:
        fs = face_sets[0]
        return FaceMesh(fs.vertices, fs.offsets, fs.indices, uv=fs.uv, uv_indices=fs.uv_indices)

    with_uv = [fs.uv is not None for fs in face_sets]
    keep_uv = all(with_uv)
    if any(with_uv) and not keep_uv:
        warnings.append("texture coordinates dropped: only some IndexedFaceSets have them")
    face_varying = keep_uv and any(fs.uv_indices is not None for fs in face_sets)
    vertices, offsets, indices, uvs, uv_indices = [], [np.zeros(1, np.int64)], [], [], []
    n_vertices = n_corners = n_uv = 0
    for fs in face_sets:
        vertices.append(fs.vertices)
        indices.append(fs.indices + n_vertices)
        offsets.append(fs.offsets[1:] + n_corners)
        if keep_uv:
            uvs.append(fs.uv)
            if face_varying:
                if fs.uv_indices is None and len(fs.uv) != len(fs.vertices):
                    raise ScanError(
                        path,
                        f"{len(fs.uv)} per-vertex texture coordinates for "
                        f"{len(fs.vertices)} vertices",
                    )
                local = fs.indices if fs.uv_indices is None else fs.uv_indices
                uv_indices.append(local + n_uv)
            n_uv += len(fs.uv)
        n_vertices += len(fs.vertices)
        n_corners += len(fs.indices)
    return FaceMesh(
        np.concatenate(vertices),
        np.concatenate(offsets),
        np.concatenate(indices),
        uv=np.concatenate(uvs) if keep_uv else None,
        uv_indices=np.concatenate(uv_indices) if face_varying else None,
    )


# ---------------------------------------------------------------------------------- writing
#: The six viewpoints BU-3DFE files carry: name, direction from the face centre to the camera,
#: and the VRML orientation (axis, angle) that turns the default view (-z) toward the centre.
_VIEWPOINTS = (
    ("Front", (0, 0, 1), (0, 1, 0, 0.0)),
    ("Back", (0, 0, -1), (0, 1, 0, np.pi)),
    ("Left", (-1, 0, 0), (0, 1, 0, -np.pi / 2)),
    ("Right", (1, 0, 0), (0, 1, 0, np.pi / 2)),
    ("Top", (0, 1, 0), (1, 0, 0, -np.pi / 2)),
    ("Bottom", (0, -1, 0), (1, 0, 0, np.pi / 2)),
)


def write_vrml(
    path: str | Path,
    mesh: FaceMesh,
    texture_url: str | None = None,
    landmarks_comment: bool = False,
) -> None:
    """Write ``mesh`` as a VRML 2.0 file in the BU-3DFE layout.

    Shared vertices, polygon arities and face-varying UVs (a separate ``texCoordIndex``) are
    kept; per-vertex UVs are written without ``texCoordIndex``, which VRML reads as "same
    indices as coordIndex". Numbers are written in Python's shortest round-trip form, so reading
    the file back gives the same floats. Six Viewpoint nodes frame the mesh like the real files.

    Args:
        texture_url: file name for ``ImageTexture { url ... }``, relative to the written file's
            folder; None writes no texture node.
        landmarks_comment: also write ``mesh.landmarks`` as ``#`` comment lines (readers ignore
            them; handy when inspecting a file by eye).

    Raises:
        ValueError: the mesh is invalid, or the url is absolute, escapes the folder or holds a
            double quote.
    """
    path = Path(path)
    mesh.validate(path)
    if texture_url is not None:
        if '"' in texture_url:
            raise ValueError(f"texture url {texture_url!r} contains a double quote")
        safe_relative(texture_url, path.parent, path)

    out = [
        f"#VRML V2.0 utf8\n\n# written by facevlm: {mesh.n_vertices} vertices, "
        f"{mesh.n_polygons} polygons\n"
    ]
    if landmarks_comment and mesh.landmarks is not None:
        out.append(_landmark_comments(mesh))
    out.append("Transform {\n  children [\n    Shape {\n      geometry IndexedFaceSet {\n")
    out.append("        coord Coordinate {\n          point [\n")
    out.append(_float_rows(mesh.vertices))
    out.append("          ]\n        }\n        coordIndex [\n")
    out.append(_polygon_rows(mesh.polygon_indices, mesh.polygon_offsets))
    out.append("        ]\n")
    if mesh.has_uv:
        out.append("        texCoord TextureCoordinate {\n          point [\n")
        out.append(_float_rows(mesh.uv))
        out.append("          ]\n        }\n")
        if mesh.uv_indices is not None:
            out.append("        texCoordIndex [\n")
            out.append(_polygon_rows(mesh.uv_indices, mesh.polygon_offsets))
            out.append("        ]\n")
    out.append("      }\n")
    if texture_url is not None:
        out.append(
            "      appearance Appearance {\n        material Material {\n"
            "          diffuseColor 1 1 1\n        }\n"
            f'        texture ImageTexture {{\n          url "{texture_url}"\n        }}\n'
            "      }\n"
        )
    out.append("    }\n  ]\n}\n")
    out.append(_viewpoints(mesh))
    path.write_text("".join(out), encoding="utf-8", newline="\n")


def _float_rows(values: np.ndarray) -> str:
    """``x y z,`` rows (no comma after the last), shortest round-trip float form."""
    n, k = values.shape
    row = "            " + " ".join(["%r"] * k) + ",\n"
    text = (row * n) % tuple(values.astype(np.float64).ravel().tolist())
    return text[:-2] + "\n"


def _polygon_rows(indices: np.ndarray, offsets: np.ndarray) -> str:
    """``a b c -1,`` rows, one polygon per line, for polygons of any arity."""
    n_polygons = len(offsets) - 1
    terminated = np.full(len(indices) + n_polygons, -1, dtype=np.int64)
    corner_slots = np.arange(len(indices)) + np.repeat(np.arange(n_polygons), np.diff(offsets))
    terminated[corner_slots] = indices
    # one %-format over the whole tuple: half the time of joining str() of each index
    text = ("%d " * len(terminated)) % tuple(terminated.tolist())
    text = text[:-1].replace(" -1 ", " -1,\n            ")
    return "            " + text + "\n"


def _landmark_comments(mesh: FaceMesh) -> str:
    labels = mesh.landmark_labels or [str(i) for i in range(len(mesh.landmarks))]
    lines = [f"# landmarks: {len(mesh.landmarks)} (label: x y z)\n"]
    lines += [
        f"# {label}: {x!r} {y!r} {z!r}\n"
        for label, (x, y, z) in zip(labels, mesh.landmarks.tolist(), strict=True)
    ]
    return "".join(lines) + "\n"


def _viewpoints(mesh: FaceMesh) -> str:
    """Six Viewpoints around the mesh's bounding box, at 2.5 box sizes from its centre."""
    low, high = (np.asarray(b) for b in mesh.bounds())
    centre = (low + high) / 2
    distance = 2.5 * float(np.max(high - low) or 1.0)
    nodes = []
    for name, direction, (ax, ay, az, angle) in _VIEWPOINTS:
        x, y, z = (centre + distance * np.asarray(direction, dtype=float)).tolist()
        nodes.append(
            f"Viewpoint {{\n  position {x:.6g} {y:.6g} {z:.6g}\n"
            f"  orientation {ax} {ay} {az} {angle:.6f}\n"
            f'  description "{name}"\n}}\n'
        )
    return "".join(nodes)

"""Wavefront OBJ meshes, as BP4D-Spontaneous stores its per-frame scans (and 4DME may).

Why vectorised: a BP4D task holds hundreds of OBJ frames of tens of thousands of vertices each.
Instead of a Python loop per line, the reader classifies every line by its first bytes with
numpy, joins all ``v`` lines (then all ``vt``, all ``f`` lines) into one block each, and parses
each block in bulk (:mod:`._numbers`). Face corners ``v``, ``v/vt``, ``v/vt/vn`` and ``v//vn``
may be mixed freely: the slashes of each corner are counted with numpy, so the numbers can be
assigned to their corner without splitting tokens in Python.

OBJ indices are 1-based, and negative ones count back from the last vertex defined *before the
face line*; that is resolved per face from the running count of ``v``/``vt`` lines.

Texture: ``mtllib`` names a material file whose ``map_Kd`` names the image; both are resolved
inside the OBJ's folder only (see :mod:`._textures`). Without a usable material, a ``.jpg`` or
``.png`` with the OBJ's stem is taken, as BP4D keeps each frame's image beside its mesh.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope, reports_scan_errors, scope_for
from facevlm.scans.formats._numbers import parse_floats, parse_ints
from facevlm.scans.formats._textures import colours_stand_in, resolve_texture, safe_relative
from facevlm.scans.formats.limits import ReadLimits, check_polygon_corners
from facevlm.scans.mesh import FaceMesh
from facevlm.scans.point_clouds import triangulate_depth_cloud

_V, _VT, _F = 1, 2, 3
_LEADING_SPACE = re.compile(rb"(?m)^[ \t]+")
_MAP_KD = re.compile(r"^\s*map_Kd\s+(.+?)\s*$", re.MULTILINE)
_NEWMTL = re.compile(r"^\s*newmtl\s+(.+?)\s*$", re.MULTILINE)


# ---------------------------------------------------------------------------------- reading
@reports_scan_errors
def read_obj(path: str | Path, *, scope: ReadScope | None = None) -> FaceMesh:
    """Read an OBJ mesh (``v``, ``vt``, ``f``; polygons of any arity) into a FaceMesh.

    Texture coordinates are face-varying (``uv_indices``) when every face corner names one;
    if only some corners do, UVs are dropped with a warning. ``v`` lines of six numbers
    (``x y z r g b``, colours 0..1) give vertex colours.

    ``scope`` says where the file, its ``.mtl`` and its texture may be read from and the size
    limits (default: the file's own folder, default limits). Lines are counted before any
    per-line array is built, so a file of millions of short lines is refused cheaply.

    Raises:
        ScanError: bad numbers, a vertex line with fewer than three coordinates, index 0, a
            malformed face corner, indices out of range, NaN or absurd coordinates, no faces, or
            a material/texture reference that is absolute or escapes the folder (or the scope),
            or more lines, vertices or faces than the limits allow.
    """
    path = Path(path)
    scope = scope_for(path, scope)
    raw = scope.read_bytes(path)
    _check_line_counts(raw, path, scope)
    data = _clean(raw)
    buf = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.flatnonzero(buf == 10)
    line_starts = np.concatenate([[0], line_ends[:-1] + 1])
    kinds = _line_kinds(buf, line_starts)

    warnings: list[str] = []
    vertices, colors = _vertex_lines(data, kinds, line_starts, line_ends, path)
    uv = _uv_lines(data, kinds, line_starts, line_ends, path)
    if not np.any(kinds == _F):  # points only: a depth camera's capture
        mesh = triangulate_depth_cloud(vertices, path, colors, warnings)
        mesh.metadata.update({"format": "obj", "warnings": warnings})
        return mesh.validate(path)
    offsets, indices, uv_indices = _face_lines(
        data, kinds, line_starts, line_ends, path, scope.limits
    )
    if uv is not None and uv_indices is None:
        warnings.append("texture coordinates dropped: not every face corner names one")
        uv = None
    if uv is None:
        uv_indices = None

    mesh = FaceMesh(
        vertices, offsets, indices, uv=uv, uv_indices=uv_indices, vertex_colors=colors, source=path
    )
    mesh.texture_path = _obj_texture(data, path, warnings, scope)
    colours_stand_in(mesh, warnings)
    mesh.metadata.update({"format": "obj", "warnings": warnings})
    return mesh.validate(path)


def _check_line_counts(data: bytes, path: Path, scope: ReadScope) -> None:
    """Refuse more ``v``/``vt`` or ``f`` lines than the limits allow, or more lines in all than
    a mesh within the limits can have (with room for normals and comments), before any
    per-line array is made. ``bytes.count`` runs in C and allocates nothing."""
    limits = scope.limits
    checks = (
        ((b"\nv ", b"\nv\t"), limits.max_vertices, "'v' lines", "max_vertices"),
        ((b"\nvt ", b"\nvt\t"), limits.max_vertices, "'vt' lines", "max_vertices"),
        ((b"\nf ", b"\nf\t"), limits.max_polygons, "'f' lines", "max_polygons"),
        ((b"\n",), 4 * limits.max_vertices + 2 * limits.max_polygons, "lines", "max_vertices"),
    )
    for needles, limit, what, name in checks:
        n = sum(data.count(needle) for needle in needles)
        if n > limit:
            raise ScanError(path, f"{n} {what}, above the limit of {limit} (limits.{name})")


def _clean(data: bytes) -> bytes:
    """Drop comments and indentation (only when present) and end with a newline."""
    if b"#" in data:
        view, pieces, pos = memoryview(data), [], 0  # view slices: the join copies once
        while (at := data.find(b"#", pos)) >= 0:  # a few comments: loop over them, not bytes
            pieces.append(view[pos:at])
            pos = data.find(b"\n", at)
            if pos < 0:
                pos = len(data)
        data = b"".join([*pieces, view[pos:]])
    if b"\n " in data or b"\n\t" in data or data[:1] in (b" ", b"\t"):
        data = _LEADING_SPACE.sub(b"", data)
    return data if data.endswith(b"\n") else data + b"\n"


def _line_kinds(buf: np.ndarray, line_starts: np.ndarray) -> np.ndarray:
    """``_V``/``_VT``/``_F`` (or 0) for every line, from its first three bytes."""
    padded = np.concatenate([buf, np.zeros(3, dtype=np.uint8)])
    b0, b1, b2 = padded[line_starts], padded[line_starts + 1], padded[line_starts + 2]
    kinds = np.zeros(len(line_starts), dtype=np.int8)
    kinds[(b0 == ord("v")) & ((b1 == 32) | (b1 == 9))] = _V
    kinds[(b0 == ord("v")) & (b1 == ord("t")) & ((b2 == 32) | (b2 == 9))] = _VT
    kinds[(b0 == ord("f")) & ((b1 == 32) | (b1 == 9))] = _F
    return kinds


def _gather(
    data: bytes,
    kinds: np.ndarray,
    kind: int,
    line_starts: np.ndarray,
    line_ends: np.ndarray,
    keyword: bytes,
    path: Path,
) -> tuple[bytes, int]:
    """All lines of one kind joined (each ending in a newline) with the keyword blanked out.

    Consecutive lines of the kind are copied as one slice, so a file that keeps its ``v``
    lines together costs one slice, not one per line.
    """
    lines = np.flatnonzero(kinds == kind)
    if len(lines) == 0:
        return b"", 0
    breaks = np.flatnonzero(np.diff(lines) != 1)
    first = lines[np.concatenate([[0], breaks + 1])]
    last = lines[np.concatenate([breaks, [len(lines) - 1]])]
    block = b"".join(
        data[s : e + 1]
        for s, e in zip(line_starts[first].tolist(), line_ends[last].tolist(), strict=True)
    )
    if b"," in block:  # the number parser would take it for a separator; OBJ has none
        raise ScanError(path, f"unexpected ',' in '{keyword.decode()}' lines")
    # Inside a block of one kind the keyword letters appear only as the keyword itself.
    return block.translate(None, keyword), len(lines)


def _tokens_per_line(block: bytes, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Number of whitespace-separated tokens on each line, and each token's start offset."""
    buf = np.frombuffer(block, dtype=np.uint8)
    sep = (buf == 32) | (buf == 9) | (buf == 10) | (buf == 13) | (buf == 11) | (buf == 12)
    starts = np.flatnonzero(~sep & np.concatenate([[True], sep[:-1]]))
    newlines = np.flatnonzero(buf == 10)[:n_lines]
    tokens_before_line_end = np.searchsorted(starts, newlines)
    return np.diff(tokens_before_line_end, prepend=0), starts


def _columns(values: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` numbers of each line, given every line has at least ``k``."""
    if (counts == k).all():
        return values.reshape(-1, k)
    first = np.cumsum(counts) - counts
    return values[first[:, None] + np.arange(k)]


def _vertex_lines(
    data, kinds, line_starts, line_ends, path
) -> tuple[np.ndarray, np.ndarray | None]:
    block, n = _gather(data, kinds, _V, line_starts, line_ends, b"v", path)
    if n == 0:
        raise ScanError(path, "empty mesh: no 'v' lines")
    values = parse_floats(block, path, "v lines", max_count=7 * n)
    counts, _ = _tokens_per_line(block, n)
    if counts.min() < 3:
        raise ScanError(path, "a 'v' line has fewer than 3 coordinates")
    vertices = _columns(values, counts, 3)
    colors = None
    if (counts == 6).all():
        rgb = values.reshape(-1, 6)[:, 3:]
        if np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1:
            colors = np.rint(rgb * 255).astype(np.uint8)
    return vertices, colors


def _uv_lines(data, kinds, line_starts, line_ends, path) -> np.ndarray | None:
    block, n = _gather(data, kinds, _VT, line_starts, line_ends, b"vt", path)
    if n == 0:
        return None
    counts, _ = _tokens_per_line(block, n)
    if counts.min() < 2:
        raise ScanError(path, "a 'vt' line has fewer than 2 coordinates")
    return _columns(parse_floats(block, path, "vt lines", max_count=3 * n), counts, 2)


def _face_lines(data, kinds, line_starts, line_ends, path, limits: ReadLimits):
    """(offsets, vertex indices, uv indices or None) of all ``f`` lines, 0-based."""
    block, n = _gather(data, kinds, _F, line_starts, line_ends, b"f", path)
    if n == 0:
        raise ScanError(path, "empty mesh: no 'f' lines")
    block = block.replace(b"//", b"/0/")  # v//vn: no texture index, written as 0 (never valid)
    arity, token_starts = _tokens_per_line(block, n)
    check_polygon_corners(arity, limits, path)
    buf = np.frombuffer(block, dtype=np.uint8)
    token_of_slash = np.searchsorted(token_starts, np.flatnonzero(buf == ord("/")), "right") - 1
    slashes = np.bincount(token_of_slash, minlength=len(token_starts))
    if slashes.max(initial=0) > 2:
        raise ScanError(path, "malformed face corner (more than two '/')")
    numbers = parse_ints(block.replace(b"/", b" "), path, "f lines", max_count=48 * n)
    per_corner = slashes + 1
    if len(numbers) != int(per_corner.sum()):
        raise ScanError(path, "malformed face corner (an empty or broken v/vt/vn field)")
    first = np.cumsum(per_corner) - per_corner

    # Negative indices count back from the vertices defined before each face line.
    face_lines = np.flatnonzero(kinds == _F)
    v_before = np.repeat(np.cumsum(kinds == _V)[face_lines], arity)
    vt_before = np.repeat(np.cumsum(kinds == _VT)[face_lines], arity)
    vertex = _zero_based(numbers[first], v_before, path, "vertex")
    uv_indices = None
    if (slashes >= 1).all():
        vt = numbers[first + 1]
        if (vt != 0).all():
            uv_indices = _zero_based(vt, vt_before, path, "texture")
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(arity, out=offsets[1:])
    return offsets, vertex, uv_indices


def _zero_based(index: np.ndarray, defined_before: np.ndarray, path: Path, what: str) -> np.ndarray:
    if (index == 0).any():
        raise ScanError(path, f"{what} index 0 in a face (OBJ indices start at 1)")
    return np.where(index < 0, defined_before + index, index - 1)


def _obj_texture(data: bytes, path: Path, warnings: list[str], scope: ReadScope) -> Path | None:
    """``map_Kd`` of the used material, else a same-stem ``.jpg``/``.png`` beside the file."""
    fallbacks = [path.with_suffix(".jpg"), path.with_suffix(".png")]
    library = _directive(data, b"mtllib", path)
    if library is None:
        return resolve_texture(None, path.parent, path, warnings, fallbacks, scope)
    mtl_path = safe_relative(library, path.parent, path, what="material library")
    found, problem = scope.probe(mtl_path, path, "material library")
    if found is None:
        warnings.append(f"material library {library[:80]!r} is unusable: {problem}")
        return resolve_texture(None, path.parent, path, warnings, fallbacks, scope)
    mtl = scope.read_text(mtl_path, what="material library", source=path)
    image = _material_image(mtl, _directive(data, b"usemtl", path))
    if image is None:
        warnings.append(f"material library {library[:80]!r} names no map_Kd texture")
    return resolve_texture(image, mtl_path.parent, path, warnings, fallbacks, scope)


def _directive(data: bytes, keyword: bytes, path: Path) -> str | None:
    """The argument of the first line starting with ``keyword`` (``mtllib``, ``usemtl``)."""
    pos = 0
    while (at := data.find(keyword, pos)) >= 0:
        end = data.find(b"\n", at)
        if (at == 0 or data[at - 1] == 10) and data[at + len(keyword) : at + len(keyword) + 1] in (
            b" ",
            b"\t",
        ):
            try:
                value = data[at + len(keyword) : end].decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ScanError(path, f"{keyword.decode()} argument is not UTF-8 text") from None
            return value or None
        pos = at + 1
    return None


def _material_image(mtl: str, material: str | None) -> str | None:
    """The ``map_Kd`` file of ``material`` (or of the first material that has one)."""
    sections = _NEWMTL.split(mtl)  # [preamble, name1, body1, name2, body2, ...]
    bodies = dict(zip(sections[1::2], sections[2::2], strict=True))
    ordered = ([bodies[material]] if material in bodies else []) + list(bodies.values())
    for body in ordered or [mtl]:
        match = _MAP_KD.search(body)
        if match:
            return match[1].split()[-1]  # options such as "-s 1 1 1" come before the file
    return None


# ---------------------------------------------------------------------------------- writing
def write_obj(path: str | Path, mesh: FaceMesh, texture_filename: str | None = None) -> None:
    """Write ``mesh`` as OBJ (1-based ``v``, ``vt``, ``f v/vt``), with a ``.mtl`` if textured.

    Face-varying UVs are written as they are (``f v/vt``); per-vertex UVs reuse the vertex
    index. Vertex colours are appended to ``v`` lines as ``r g b`` in 0..1.

    Args:
        texture_filename: image name (relative to the OBJ's folder) for ``map_Kd`` in a
            ``<stem>.mtl`` written beside the OBJ; None writes no material.

    Raises:
        ValueError: the mesh is invalid, or the texture name is absolute or escapes the folder.
    """
    path = Path(path)
    mesh.validate(path)
    out = [f"# written by facevlm: {mesh.n_vertices} vertices, {mesh.n_polygons} faces\n"]
    if texture_filename is not None:
        safe_relative(texture_filename, path.parent, path)
        mtl = path.with_suffix(".mtl")
        mtl.write_text(
            f"newmtl face\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nmap_Kd {texture_filename}\n",
            encoding="utf-8",
            newline="\n",
        )
        out.append(f"mtllib {mtl.name}\nusemtl face\n")
    if mesh.vertex_colors is not None:
        columns = np.hstack([mesh.vertices, mesh.vertex_colors / 255.0])
        out.append(_rows("v", columns))
    else:
        out.append(_rows("v", mesh.vertices))
    corner_uv = mesh.corner_uv_indices()
    if corner_uv is not None:
        out.append(_rows("vt", mesh.uv))
    out.append(_face_rows(mesh, corner_uv))
    path.write_text("".join(out), encoding="utf-8", newline="\n")


def _rows(keyword: str, values: np.ndarray) -> str:
    row = keyword + " %r" * values.shape[1] + "\n"
    return (row * len(values)) % tuple(values.astype(np.float64).ravel().tolist())


def _face_rows(mesh: FaceMesh, corner_uv: np.ndarray | None) -> str:
    """``f a b c`` or ``f a/ta b/tb c/tc`` lines, one per polygon, any arity."""
    corners = (mesh.polygon_indices + 1).astype(str)
    if corner_uv is not None:
        corners = np.char.add(np.char.add(corners, "/"), (corner_uv + 1).astype(str))
    ends = mesh.polygon_offsets[1:] - 1
    separators = np.full(len(corners), " ", dtype=object)
    separators[ends] = "\nf "
    parts = np.empty(2 * len(corners), dtype=object)
    parts[0::2], parts[1::2] = corners, separators
    return "f " + "".join(parts.tolist())[:-2]

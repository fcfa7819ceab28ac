"""Geomview OFF meshes (``OFF``, ``COFF``, ``NOFF``, ``STOFF`` and their combinations), as
mesh-processing tools and several scan databases write them.

Why a reader of our own: the format is a header, counts, one vertex per line and one polygon per
line; what varies is optional per-vertex data (normals, colours with or without alpha, as 0..1
floats or 0..255 integers, texture coordinates) and per-face colours. Libraries that read OFF
either drop the colours or triangulate; this one keeps polygons of any arity and reads the
colours into ``vertex_colors``, with the limits and checks of the other readers.

Layout of a vertex line, per the Geomview specification: ``x y z [nx ny nz] [r g b [a]] [s t]``
with the normal present for an ``N`` prefix, the colour for ``C``, the texture coordinates for
``ST``. Some writers put colours on a plain ``OFF`` file's vertex lines (six or seven numbers);
those are read as colours too. A face line is ``n i1 .. in [colour]``; face colours are
ignored. Comments (``#`` to the end of the line) and blank lines may appear anywhere, and the
counts may follow the keyword on its line. Binary OFF and dimensions other than 3 (``4OFF``,
``nOFF``) are refused with that reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope, reports_scan_errors, scope_for
from facevlm.scans.formats._numbers import count_tokens, parse_floats, parse_ints
from facevlm.scans.formats._textures import resolve_texture
from facevlm.scans.formats.limits import ReadLimits, check_polygon_corners, max_fan_triangles
from facevlm.scans.mesh import FaceMesh

#: Numbers on a vertex line at most: x y z, a normal, a colour with alpha, s t.
_MAX_VERTEX_NUMBERS = 12
_KEYWORD = re.compile(rb"\A(ST)?(C)?(N)?(4)?(n)?OFF(?=\s|\d|\Z)")
_COMMENT = re.compile(rb"#[^\n\r]*")


@reports_scan_errors
def read_off(path: str | Path, *, scope: ReadScope | None = None) -> FaceMesh:
    """Read an OFF-family mesh into a FaceMesh (per-vertex colours into ``vertex_colors``).

    Texture coordinates (``ST`` prefix) are kept only when a same-stem ``.png``/``.jpg`` lies
    beside the file (OFF cannot name its image); otherwise they are dropped with a warning so
    that the colours, if any, are what the texture modality shows.

    Raises:
        ScanError: an unknown or unsupported header, counts above the limits or not matching
            the lines, bad numbers, a face line whose arity does not match its indices,
            indices out of range, colours out of range, NaN or absurd coordinates, or
            degenerate geometry.
    """
    path = Path(path)
    scope = scope_for(path, scope)
    data = scope.read_bytes(path)
    limit = scope.limits.max_vertices + scope.limits.max_polygons + 1_000
    if data.count(b"\n") > limit and data.count(b"\n") - data.count(b"#") > limit:
        raise ScanError(
            path, f"more than {limit} lines: above what the vertex and polygon limits allow"
        )
    lines = _lines(data)
    if any(b"," in line for line in lines):  # the number parser would split at it
        raise ScanError(path, "unexpected ',' in an OFF file (numbers are separated by spaces)")
    if not lines:
        raise ScanError(path, "empty file")
    keyword = _KEYWORD.match(lines[0])
    if keyword is None:
        raise ScanError(path, "not an OFF file (first line is not OFF, COFF, NOFF, STOFF...)")
    if keyword[4] or keyword[5]:
        raise ScanError(path, "only 3D OFF is supported (4OFF / nOFF declare other dimensions)")
    rest = lines[0][keyword.end() :].strip()
    if rest.startswith(b"BINARY"):
        raise ScanError(path, "binary OFF is not supported")
    lines = ([rest] if rest else []) + lines[1:]
    if not lines:
        raise ScanError(path, "truncated: no vertex and face counts")
    counts = parse_ints(lines[0], path, "OFF counts")
    if len(counts) not in (2, 3) or counts.min() < 0:
        raise ScanError(
            path, f"OFF counts line must be 'vertices faces [edges]', got {len(counts)}"
        )
    n_vertices, n_faces = int(counts[0]), int(counts[1])
    _check_counts(n_vertices, n_faces, path, scope)
    if len(lines) - 1 < n_vertices + n_faces:
        raise ScanError(
            path,
            f"truncated: {n_vertices} vertices and {n_faces} faces declared, "
            f"{len(lines) - 1} lines follow",
        )
    if len(lines) - 1 > n_vertices + n_faces:
        raise ScanError(
            path, f"{len(lines) - 1 - n_vertices - n_faces} unexpected lines after the last face"
        )
    layout = {"normals": bool(keyword[3]), "colours": bool(keyword[2]), "uv": bool(keyword[1])}
    vertices, colours, uv = _vertex_lines(lines[1 : 1 + n_vertices], layout, path)
    offsets, indices = _face_lines(lines[1 + n_vertices :], path, scope.limits)

    warnings: list[str] = []
    texture = None
    if uv is not None:
        fallbacks = [path.with_suffix(".png"), path.with_suffix(".jpg")]
        texture = resolve_texture(None, path.parent, path, warnings, fallbacks, scope)
        if texture is None:
            warnings.append("texture coordinates dropped: no image beside the file")
            uv = None
    mesh = FaceMesh(vertices, offsets, indices, uv=uv, vertex_colors=colours, source=path,
                    texture_path=texture)  # fmt: skip
    mesh.metadata.update(
        {"format": "off", "header": keyword[0].decode("ascii"), "warnings": warnings}
    )
    return mesh.validate(path)


def _lines(data: bytes) -> list[bytes]:
    """Non-blank lines with comments removed (comments are a handful; lines are split once)."""
    if b"#" in data:
        data = _COMMENT.sub(b"", data)
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return [line.strip() for line in lines if line.strip()]


def _check_counts(n_vertices: int, n_faces: int, path: Path, scope: ReadScope) -> None:
    limits = scope.limits
    for n, limit, what, name in ((n_vertices, limits.max_vertices, "vertices", "max_vertices"),
                                 (n_faces, limits.max_polygons, "faces", "max_polygons")):  # fmt: skip
        if n > limit:
            raise ScanError(path, f"header declares {n} {what}, above the limit of {limit} "
                                  f"(limits.{name})")  # fmt: skip
    if n_faces == 0:
        raise ScanError(path, "empty mesh: no faces")


def _tokens_per_line(block: bytes, n_lines: int) -> np.ndarray:
    """Whitespace-separated tokens on each of the ``n_lines`` lines of ``block`` (joined by
    newlines), counted with numpy rather than a split per line."""
    buf = np.frombuffer(block + b"\n", dtype=np.uint8)
    space = (buf == 32) | ((buf >= 9) & (buf <= 13))
    token_starts = np.flatnonzero(~space & np.concatenate([[True], space[:-1]]))
    line_ends = np.flatnonzero(buf == 10)[:n_lines]
    return np.diff(np.searchsorted(token_starts, line_ends), prepend=0)


def _vertex_lines(lines: list[bytes], layout: dict, path: Path):
    """(vertices, colours or None, uv or None) from the vertex lines."""
    block = b"\n".join(lines)
    _check_tokens(block, _MAX_VERTEX_NUMBERS * len(lines), f"{len(lines)} vertex lines", path)
    per_line = _tokens_per_line(block, len(lines))
    width = int(per_line[0]) if len(per_line) else 3
    if len(per_line) and (per_line != width).any():
        line = int(np.flatnonzero(per_line != width)[0])
        raise ScanError(
            path, f"vertex {line} has {per_line[line]} numbers, the first vertex {width}"
        )
    values = parse_floats(block, path, "OFF vertices").reshape(len(lines), width)
    fixed = 3 + 3 * layout["normals"] + 2 * layout["uv"]
    colour_width = width - fixed
    if width < fixed or (layout["colours"] and colour_width not in (3, 4)):
        raise ScanError(path, f"vertex lines hold {width} numbers, which does not fit the header")
    if not layout["colours"] and colour_width not in (0, 3, 4):
        raise ScanError(path, f"vertex lines hold {width} numbers, which does not fit the header")
    start = 3 + 3 * layout["normals"]
    colours = None
    if colour_width:
        colours = _colours(values[:, start : start + 3], path)
    uv = values[:, width - 2 :] if layout["uv"] else None
    return values[:, :3].copy(), colours, None if uv is None else uv.copy()


def _colours(rgb: np.ndarray, path: Path) -> np.ndarray:
    """uint8 colours from 0..1 floats or 0..255 integers (the two conventions in use)."""
    if rgb.min(initial=0) < 0:
        raise ScanError(path, "negative vertex colour")
    if rgb.max(initial=0) > 1:
        if rgb.max() > 255 or (rgb != np.round(rgb)).any():
            raise ScanError(path, "vertex colours are neither 0..1 floats nor 0..255 integers")
        return rgb.astype(np.uint8)
    return np.rint(rgb * 255).astype(np.uint8)


def _check_tokens(block: bytes, allowed: int, lines: str, path: Path) -> None:
    """Refuse more numbers than the lines can hold, counted in bounded memory before a per-token
    array is made (60 million numbers on one line would take gigabytes)."""
    if len(block) > 2 * allowed and (n := count_tokens(block)) > allowed:
        raise ScanError(path, f"{n} numbers on {lines}, above the {allowed} they can hold")


def _face_lines(
    lines: list[bytes], path: Path, limits: ReadLimits
) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, indices): each line ``n i1 .. in`` then at most a colour (3 or 4 numbers)."""
    block = b"\n".join(lines)
    # a count and a colour per line, and the corners of polygons within the triangle limit
    allowed = 5 * len(lines) + max_fan_triangles(limits) + 2 * len(lines)
    _check_tokens(block, allowed, f"{len(lines)} face lines", path)
    per_line = _tokens_per_line(block, len(lines))
    # Integers only (no face colours as floats): numpy's integer scanner, twice as fast.
    integral = not any(c in block for c in (b".", b"e", b"E", b"n", b"N", b"i", b"I"))
    values = (parse_ints if integral else parse_floats)(block, path, "OFF faces")
    first = np.cumsum(per_line) - per_line
    arity = values[first]
    if (arity != np.round(arity)).any() or arity.min() < 3:
        raise ScanError(path, "a face line does not start with a vertex count of 3 or more")
    check_polygon_corners(arity, limits, path)
    arity = arity.astype(np.int64)
    extra = per_line - 1 - arity
    if ((extra != 0) & (extra != 3) & (extra != 4)).any():
        line = int(np.flatnonzero((extra != 0) & (extra != 3) & (extra != 4))[0])
        raise ScanError(
            path,
            f"face {line} declares {arity[line]} corners but holds {per_line[line] - 1} numbers",
        )
    corner = np.repeat(first + 1, arity) + (
        np.arange(int(arity.sum())) - np.repeat(np.cumsum(arity) - arity, arity)
    )
    indices = values[corner]
    if (indices != np.round(indices)).any() or np.abs(indices).max() > 2**53:
        raise ScanError(path, "a face index is not an integer")
    offsets = np.zeros(len(arity) + 1, dtype=np.int64)
    np.cumsum(arity, out=offsets[1:])
    return offsets, indices.astype(np.int64)

"""STL meshes, ASCII and binary, as many scanners, CAD and mesh tools write them.

Why a reader of our own: STL stores every triangle with its three corners written out again,
so the mesh's connectivity exists only as repeated coordinates. VTK's reader merges them, but
by a tolerance and without the limits and checks of the other readers here; the small STL
libraries either keep the triangle soup or need a dependency for a format this simple. This
reader welds corners that are *bit-for-bit* equal (after ``-0.0`` is made ``0.0``), which is
exactly how the writer produced them from one shared vertex: connectivity is recovered with no
tolerance to tune and no two distinct points ever merged.

Binary or ASCII: a binary file may begin with ``solid`` too (many exporters put the solid name
in the 80-byte header), so the size decides: a binary file is exactly ``84 + 50 n`` bytes,
``n`` being the count at byte 80. A file of that size is still read as ASCII when it is pure
ASCII text beginning with ``solid`` and holding ``endsolid`` (a binary body of float records is
never all ASCII). Anything else beginning with ``solid`` is ASCII; the rest is a binary file
whose size does not match its count, refused as truncated or padded.

ASCII files are checked token by token without a Python loop: every facet must be exactly
``facet normal n n n outer loop vertex x y z (x3) endloop endfacet`` (lines may break anywhere,
several ``solid`` blocks may follow each other). The facet normals are not kept: the renderer
computes its own from the welded surface. Binary colour in the attribute word (a non-standard
extension with two incompatible conventions) is not read.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope, reports_scan_errors, scope_for
from facevlm.scans.formats._numbers import parse_floats
from facevlm.scans.mesh import FaceMesh

_RECORD = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
_SOLID = re.compile(rb"(?i)\A\s*solid(?![A-Za-z0-9_])")
_WORD_BYTES = {bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyz0123456789_"}
_ENDFACET = re.compile(rb"(?i)endfacet")
#: Bytes of ASCII text tokenised at once (the arrays cost about ten times this).
_CHUNK = 8 * 2**20
_MAX_SOLID_WORDS = 100_000

#: The 21 tokens of one ASCII facet: a keyword, or None for a number.
_FACET = (b"facet", b"normal", None, None, None, b"outer", b"loop",
          b"vertex", None, None, None, b"vertex", None, None, None,
          b"vertex", None, None, None, b"endloop", b"endfacet")  # fmt: skip
_KEYWORDS = sorted({k for k in _FACET if k is not None})


@reports_scan_errors
def read_stl(path: str | Path, *, scope: ReadScope | None = None) -> FaceMesh:
    """Read an ASCII or binary STL into a FaceMesh of welded vertices and triangles.

    Facets whose welded corners repeat a vertex (zero-width slivers, common in exports) are
    dropped with a warning; they have no surface to draw.

    Raises:
        ScanError: a binary size that does not match its facet count, an ASCII facet that
            does not follow the grammar, bad numbers, NaN or absurd coordinates, no facets,
            more facets or vertices than the limits allow, or degenerate geometry.
    """
    path = Path(path)
    scope = scope_for(path, scope)
    data = scope.read_bytes(path)
    encoding = _encoding(data, path, scope)
    corners = _binary(data, path) if encoding == "binary" else _ascii(data, path, scope)
    vertices, triangles = weld(corners, path, scope.limits.max_vertices)
    warnings: list[str] = []
    triangles = triangles[distinct_corners(triangles, path, warnings, "facets")]
    mesh = FaceMesh.from_triangles(vertices, triangles, source=path)
    mesh.metadata.update({"format": "stl", "encoding": encoding, "warnings": warnings,
                          "n_facets": len(corners)})  # fmt: skip
    return mesh.validate(path)


def _encoding(data: bytes, path: Path, scope: ReadScope) -> str:
    """``"binary"`` or ``"ascii"``, by the size rule of the module docstring."""
    looks_ascii = _SOLID.match(data) is not None and _is_text(data)
    if len(data) >= 84:
        (count,) = struct.unpack_from("<I", data, 80)
        ascii_text = looks_ascii and data.isascii() and b"endsolid" in data[-1024:]
        if len(data) == 84 + 50 * count and not ascii_text:
            _check_facets(count, path, scope)
            return "binary"
    if looks_ascii:
        return "ascii"
    if len(data) < 84:
        raise ScanError(path, f"not an STL file: {len(data)} bytes, no 'solid' header")
    _check_facets(count, path, scope)
    expected = 84 + 50 * count
    if len(data) < expected:
        raise ScanError(
            path,
            f"truncated binary STL: header declares {count} facets ({expected} bytes), "
            f"the file has {len(data)}",
        )
    raise ScanError(
        path,
        f"binary STL with {len(data) - expected} unexpected bytes after its {count} declared "
        "facets",
    )


def _is_text(data: bytes) -> bool:
    """Text as an ASCII STL is: no NUL byte (binary records hold them in their zero attribute
    words and zero coordinates), and ASCII, or at least ASCII keywords near the start (a
    solid name may be UTF-8)."""
    return b"\0" not in data and (data.isascii() or b"facet" in data[:1024].lower())


def _check_facets(count: int, path: Path, scope: ReadScope) -> None:
    if count > scope.limits.max_polygons:
        raise ScanError(
            path,
            f"{count} facets, above the limit of {scope.limits.max_polygons} (limits.max_polygons)",
        )


def _binary(data: bytes, path: Path) -> np.ndarray:
    (count,) = struct.unpack_from("<I", data, 80)
    if count == 0:
        raise ScanError(path, "empty mesh: binary STL with 0 facets")
    records = np.frombuffer(data, dtype=_RECORD, count=count, offset=84)
    corners = records["corners"].astype(np.float64)
    if not np.isfinite(corners).all():
        bad = int((~np.isfinite(corners).all(axis=(1, 2))).sum())
        raise ScanError(path, f"{bad} facets have NaN or infinite coordinates")
    return corners


def _ascii(data: bytes, path: Path, scope: ReadScope) -> np.ndarray:
    """``(F, 3, 3)`` corners of an ASCII STL, every facet checked against :data:`_FACET`.

    The text is taken in chunks of about :data:`_CHUNK` bytes cut after an ``endfacet``, so
    that the per-byte and per-token arrays stay a few tens of MB whatever the file's size.
    """
    if b"," in data:
        raise ScanError(path, "unexpected ',' in ASCII STL (numbers are separated by spaces)")
    spans = _solid_lines(data, path)
    parts, done, pos = [], 0, 0
    while pos < len(data):
        cut = len(data)
        if len(data) - pos > _CHUNK:
            end = _ENDFACET.search(data, pos + _CHUNK)
            cut = len(data) if end is None else end.end()
        chunk = bytearray(data[pos:cut])
        for begin, stop in spans:
            if begin < cut and stop > pos:
                chunk[max(begin, pos) - pos : min(stop, cut) - pos] = b" " * (
                    min(stop, cut) - max(begin, pos)
                )
        part = _facets(bytes(chunk), done, path)
        parts.append(part)
        done += len(part)
        _check_facets(done, path, scope)
        pos = cut
    if done == 0:
        raise ScanError(path, "empty mesh: ASCII STL with no facets")
    return np.concatenate(parts)


def _solid_lines(data: bytes, path: Path) -> list[tuple[int, int]]:
    """Byte spans of the ``solid <name>`` and ``endsolid <name>`` lines (a name may hold any
    words, so the whole line goes); a few per file.

    Linear in the file's size, however many words there are: a line break is looked for only
    between one ``solid`` word and the next (a word with none before it shares its line with
    the previous one, so it does not start a line), and the break ending a line is found once
    and reused (a file with no carriage returns would otherwise be searched to its end for one
    at every word).
    """
    spans: list[tuple[int, int]] = []
    found = 0
    for needle in (b"olid", b"OLID"):  # bytes.find runs at memchr speed; a regex with (?i) not
        pos, searched_to = 0, 0
        next_break = _NextBreak(data)
        while (at := data.find(needle, pos)) >= 0:
            pos = at + 4
            found += 1
            if found > _MAX_SOLID_WORDS:
                raise ScanError(path, f"more than {_MAX_SOLID_WORDS} 'solid' words: not an STL")
            begin, window = at - 1, searched_to
            searched_to = at
            if begin < 0 or data[begin : begin + 1].lower() != b"s":
                continue
            if data[max(begin - 3, 0) : begin].lower() == b"end":
                begin -= 3
            line_break = max(data.rfind(b"\n", window, begin), data.rfind(b"\r", window, begin))
            if window > 0 and line_break < 0:
                continue  # on the line of the previous word: not at the start of a line
            if data[line_break + 1 : begin].strip() or data[pos : pos + 1].lower() in _WORD_BYTES:
                continue  # not at the start of a line, or a longer word
            spans.append((begin, next_break(pos)))
    return sorted(spans)


class _NextBreak:
    """Offset of the first line break (LF or CR) at or after a position, for positions that
    only grow: each search resumes where the last one ended, so all of them read the file once.
    """

    def __init__(self, data: bytes):
        self.data = data
        self.found = {b"\n": -1, b"\r": -1}  # last break found of each kind (len: none left)

    def __call__(self, pos: int) -> int:
        for kind, at in self.found.items():
            if at < pos:
                hit = self.data.find(kind, pos)
                self.found[kind] = len(self.data) if hit < 0 else hit
        return min(self.found.values())


def _facets(body: bytes, first_facet: int, path: Path) -> np.ndarray:
    """The facets of one chunk (whole facets only, ``solid`` lines blanked)."""
    buf = np.frombuffer(body, dtype=np.uint8)
    space = (buf == 32) | ((buf >= 9) & (buf <= 13))
    starts = np.flatnonzero(~space & np.concatenate([[True], space[:-1]]))
    ends = np.flatnonzero(~space & np.concatenate([space[1:], [True]])) + 1
    count = len(starts) // 21
    if len(starts) != 21 * count:
        raise ScanError(
            path,
            f"ASCII STL facets do not follow 'facet normal n n n outer loop vertex x y z (3 "
            f"times) endloop endfacet': {len(starts)} tokens for {count} facets "
            f"(after facet {first_facet})",
        )
    first = buf[starts]
    is_word = ((first | 32) >= 97) & ((first | 32) <= 122)
    pattern = np.tile([k is not None for k in _FACET], count)
    if not np.array_equal(is_word, pattern):
        at = int(np.flatnonzero(is_word != pattern)[0])
        token = body[starts[at] : min(ends[at], starts[at] + 40)].decode("latin-1")
        raise ScanError(
            path, f"facet {first_facet + at // 21}: unexpected {token!r} in an ASCII STL facet"
        )
    _check_keywords(body, starts[pattern], ends[pattern], count, first_facet, path)
    keyword_starts, keyword_ends = starts[pattern], ends[pattern]
    lengths = keyword_ends - keyword_starts
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    numbers = buf.copy()
    numbers[np.repeat(keyword_starts, lengths) + within] = 32  # blank the keywords
    values = parse_floats(numbers.tobytes(), path, "STL numbers")  # 12 per facet, checked
    return values.reshape(count, 12)[:, 3:].reshape(count, 3, 3)


def _check_keywords(body: bytes, starts, ends, count: int, first_facet: int, path: Path) -> None:
    """Every word token is the keyword its position requires (compared as fixed-width rows,
    case-insensitively; no Python code per token)."""
    keywords = [k for k in _FACET if k is not None]
    width = max(len(k) for k in keywords)
    wanted = np.tile([len(k) for k in keywords], count)
    table = np.frombuffer(b"".join(k.ljust(width) for k in keywords), np.uint8).reshape(-1, width)
    buf = np.frombuffer(body + b" " * width, dtype=np.uint8)
    rows = buf[starts[:, None] + np.arange(width)] | 32
    mask = np.arange(width)[None, :] < wanted[:, None]
    bad = ((ends - starts) != wanted) | ((rows != np.tile(table | 32, (count, 1))) & mask).any(1)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        token = body[starts[at] : min(ends[at], starts[at] + 40)].decode("latin-1")
        raise ScanError(
            path,
            f"facet {first_facet + at // 9}: {token!r} where {keywords[at % 9].decode()!r} belongs in an "
            "ASCII STL facet",
        )


def distinct_corners(triangles: np.ndarray, path: Path, warnings: list[str], what: str):
    """Which welded triangles have three distinct corners (a warning counts the others:
    zero-width slivers, common in exports, with no surface to draw); refused when none has."""
    distinct = (
        (triangles[:, 0] != triangles[:, 1])
        & (triangles[:, 1] != triangles[:, 2])
        & (triangles[:, 0] != triangles[:, 2])
    )
    if not distinct.any():
        raise ScanError(path, f"degenerate geometry: every {what[:-1]} has repeated corners")
    if not distinct.all():
        warnings.append(f"{int((~distinct).sum())} {what} with repeated corners dropped")
    return distinct


def weld(corners: np.ndarray, path: Path, max_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Shared vertices from ``(F, 3, 3)`` triangle corners: bit-equal points become one.

    Vertices come out in order of first appearance, so a file written from an indexed mesh
    gives back that mesh's vertex order when the writer emitted the vertices in order.
    """
    flat = np.ascontiguousarray(corners.reshape(-1, 3) + 0.0)  # -0.0 becomes 0.0
    bits = flat.view(np.uint64)
    # A stable sort by (x, y, z) bit patterns: equal points become neighbours, and the first
    # of each run is the point's first appearance in the file.
    order = np.lexsort((bits[:, 2], bits[:, 1], bits[:, 0]))
    ordered = bits[order]
    starts_run = np.ones(len(order), dtype=bool)
    starts_run[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    n_vertices = int(starts_run.sum())
    if n_vertices > max_vertices:
        raise ScanError(
            path, f"{n_vertices} vertices, above the limit of {max_vertices} (limits.max_vertices)"
        )
    run_of_sorted = np.cumsum(starts_run) - 1
    first_corner = order[starts_run]  # first appearance of each distinct point
    renumber = np.empty(n_vertices, dtype=np.int64)
    renumber[np.argsort(first_corner, kind="stable")] = np.arange(n_vertices)
    corner_vertex = np.empty(len(order), dtype=np.int64)
    corner_vertex[order] = renumber[run_of_sorted]
    return flat[np.sort(first_corner)], corner_vertex.reshape(-1, 3)

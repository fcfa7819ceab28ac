"""Stanford PLY meshes (ascii and binary), the usual interchange format of mesh tools.

Why it is here: processed scans and synthetic faces are often passed around as PLY (MeshLab,
Open3D, trimesh all write it), and binary PLY is the compact way to cache a cleaned mesh.

The header declares element counts and property types; the body is then read element by element.
Every declared count is checked against what the file can actually hold *before* anything is
allocated, so a corrupted count fails fast instead of asking for gigabytes. Binary elements
whose records have a fixed size (all vertices; faces when every face has the same arity) are
read with one ``np.frombuffer``; faces of mixed arity are walked record by record, which is the
only way to find where each variable-length record starts.

Texture coordinates: per-vertex ``s t`` (also ``u v``, ``texture_u texture_v``), or face-varying
as MeshLab writes them, a ``texcoord`` list of ``2 * arity`` numbers per face. The texture image
is named by a ``comment TextureFile <name>`` line (MeshLab's convention), resolved inside the
file's folder only; else a same-stem ``.png``/``.jpg`` beside the file is used.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facevlm.data.errors import ScanError
from facevlm.data.formats._files import ReadScope, reports_scan_errors, scope_for
from facevlm.data.formats._numbers import parse_floats
from facevlm.data.formats._textures import resolve_texture
from facevlm.data.mesh import FaceMesh

_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
_UV_NAMES = (("s", "t"), ("u", "v"), ("texture_u", "texture_v"), ("texture_s", "texture_t"))
#: Per-vertex colour property names, in order of preference: PLY's usual names, the
#: ``diffuse_`` names some scanners and Meshlab versions write, and the one-letter short form.
_COLOUR_NAMES = (
    ("red", "green", "blue"),
    ("diffuse_red", "diffuse_green", "diffuse_blue"),
    ("r", "g", "b"),
)
_END_HEADER = re.compile(rb"end_header[ \t]*\r?\n")


@dataclass
class _Property:
    name: str
    dtype: str  # numpy type code without byte order
    count_dtype: str | None = None  # set for list properties

    @property
    def is_list(self) -> bool:
        return self.count_dtype is not None


@dataclass
class _Element:
    name: str
    count: int
    properties: list[_Property] = field(default_factory=list)


# ---------------------------------------------------------------------------------- reading
@reports_scan_errors
def read_ply(path: str | Path, *, scope: ReadScope | None = None) -> FaceMesh:
    """Read an ascii or binary PLY mesh into a FaceMesh.

    ``scope`` says where the file and its texture may be read from and the size limits
    (default: the file's own folder, default limits); declared element counts are compared
    with the limits before anything is read.

    Raises:
        ScanError: a bad or truncated header, unknown types, counts larger than the file,
            bad numbers, no ``x y z`` vertices or no faces, indices out of range, NaN or absurd
            coordinates, or a texture reference that escapes the folder.
    """
    path = Path(path)
    scope = scope_for(path, scope)
    data = scope.read_bytes(path)
    fmt, elements, texture_ref, body = _parse_header(data, path)
    _check_counts(elements, path, scope)
    if fmt is None:
        values = _read_ascii(data[body:], elements, path)
    else:
        values = _read_binary(data, body, elements, fmt, path)

    warnings: list[str] = []
    vertex_element = next((e for e in elements if e.name == "vertex"), None)
    declared = (
        {} if vertex_element is None else {p.name: p.dtype for p in vertex_element.properties}
    )
    mesh = _to_mesh(values, declared, path, warnings)
    if mesh.has_uv or mesh.vertex_colors is None:
        # An image is only drawn through UVs: with colours and no UVs, the colours are the
        # texture, and a same-stem photo beside the file must not be taken for one.
        fallbacks = [path.with_suffix(".png"), path.with_suffix(".jpg")]
        mesh.texture_path = resolve_texture(
            texture_ref, path.parent, path, warnings, fallbacks, scope
        )
    mesh.source = path
    mesh.metadata.update(
        {"format": "ply", "encoding": "ascii" if fmt is None else "binary", "warnings": warnings}
    )
    return mesh.validate(path)


def _check_counts(elements: list[_Element], path: Path, scope: ReadScope) -> None:
    """Declared vertex and face counts within the limits (before any array is made)."""
    limits = {"vertex": ("max_vertices", scope.limits.max_vertices),
              "face": ("max_polygons", scope.limits.max_polygons)}  # fmt: skip
    for element in elements:
        name, limit = limits.get(element.name, ("max_vertices", scope.limits.max_vertices))
        if element.count > limit:
            raise ScanError(
                path,
                f"header declares {element.count} {element.name} elements, above the limit of "
                f"{limit} (limits.{name})",
            )


def _parse_header(data: bytes, path: Path) -> tuple[str | None, list[_Element], str | None, int]:
    """(byte order or None for ascii, elements, TextureFile comment, body offset)."""
    if not data.startswith(b"ply") or data[3:4] not in (b"\n", b"\r"):
        raise ScanError(path, "not a PLY file (no 'ply' magic line)")
    end = _END_HEADER.search(data)
    if end is None:
        raise ScanError(path, "truncated: no 'end_header' line")
    try:
        lines = data[: end.start()].decode("ascii").splitlines()[1:]
    except UnicodeDecodeError:
        raise ScanError(path, "PLY header is not ASCII text") from None

    fmt: str | None = "missing"
    elements: list[_Element] = []
    texture = None
    for line in lines:
        words = line.split()
        if not words or words[0] == "obj_info":
            continue
        if words[0] == "comment":
            if len(words) >= 3 and words[1] == "TextureFile":
                texture = line.split("TextureFile", 1)[1].strip()
            continue
        if words[0] == "format":
            if len(words) != 3 or words[1] not in _FORMATS:
                raise ScanError(path, f"unsupported PLY format line {line!r}")
            fmt = _FORMATS[words[1]]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise ScanError(path, f"bad element line {line!r}")
            elements.append(_Element(words[1], int(words[2])))
        elif words[0] == "property":
            if not elements:
                raise ScanError(path, "property before any element")
            elements[-1].properties.append(_parse_property(words, line, path))
        else:
            raise ScanError(path, f"unknown PLY header line {line!r}")
    if fmt == "missing":
        raise ScanError(path, "PLY header has no format line")
    for element in elements:
        names = [p.name for p in element.properties]
        if len(set(names)) != len(names):
            raise ScanError(path, f"element {element.name!r} repeats a property name")
    return fmt, elements, texture, end.end()


def _parse_property(words: list[str], line: str, path: Path) -> _Property:
    if len(words) == 3 and words[1] in _TYPES:
        return _Property(words[2], _TYPES[words[1]])
    if len(words) == 5 and words[1] == "list" and words[2] in _TYPES and words[3] in _TYPES:
        if _TYPES[words[2]][0] == "f":
            raise ScanError(path, f"list count type must be an integer: {line!r}")
        return _Property(words[4], _TYPES[words[3]], _TYPES[words[2]])
    raise ScanError(path, f"bad property line {line!r}")


# A read element: scalar property → (count,) array; list property → (flat values, counts).
_Values = dict[str, dict[str, "np.ndarray | tuple[np.ndarray, np.ndarray]"]]


def _read_binary(
    data: bytes, pos: int, elements: list[_Element], order: str, path: Path
) -> _Values:
    values: _Values = {}
    for element in elements:
        left = len(data) - pos
        min_size = sum(np.dtype(p.count_dtype or p.dtype).itemsize for p in element.properties)
        if element.count * min_size > left:
            raise ScanError(
                path,
                f"truncated: {element.count} {element.name} records need at "
                f"least {element.count * min_size} bytes, {left} left",
            )
        if any(p.is_list for p in element.properties):
            values[element.name], pos = _binary_lists(data, pos, element, order, path)
        else:
            dtype = np.dtype([(p.name, order + p.dtype) for p in element.properties])
            records = np.frombuffer(data, dtype=dtype, count=element.count, offset=pos)
            values[element.name] = {p.name: records[p.name] for p in element.properties}
            pos += element.count * dtype.itemsize
    if pos != len(data) and data[pos:].strip():
        raise ScanError(path, f"{len(data) - pos} unexpected bytes after the last element")
    return values


def _binary_lists(data: bytes, pos: int, element: _Element, order: str, path: Path):
    """Records with list properties: one frombuffer if all lists match the first record's
    lengths, else a walk over the records."""
    if element.count == 0:
        return {
            p.name: (np.zeros(0), np.zeros(0, np.int64)) if p.is_list else np.zeros(0)
            for p in element.properties
        }, pos
    first_counts, _, _ = _walk(data, pos, element, order, path, limit=1)
    fields = []
    for p in element.properties:
        if p.is_list:
            fields += [
                (p.name + " count", order + p.count_dtype),
                (p.name, order + p.dtype, (int(first_counts[p.name][0]),)),
            ]
        else:
            fields.append((p.name, order + p.dtype))
    dtype = np.dtype(fields)
    if element.count * dtype.itemsize <= len(data) - pos:
        records = np.frombuffer(data, dtype=dtype, count=element.count, offset=pos)
        if all(
            (records[p.name + " count"] == first_counts[p.name][0]).all()
            for p in element.properties
            if p.is_list
        ):
            out = {}
            for p in element.properties:
                if p.is_list:
                    flat = records[p.name].reshape(-1)
                    out[p.name] = (flat, np.full(element.count, flat.size // element.count))
                else:
                    out[p.name] = records[p.name]
            return out, pos + element.count * dtype.itemsize
    counts, starts, end = _walk(data, pos, element, order, path, limit=element.count)
    out = {}
    for p in element.properties:
        item = np.dtype(order + p.dtype)
        n = counts[p.name] if p.is_list else np.ones(element.count, np.int64)
        byte_pos = np.repeat(starts[p.name], n) + item.itemsize * (
            np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        )
        raw = np.frombuffer(data, np.uint8)[byte_pos[:, None] + np.arange(item.itemsize)]
        flat = raw.reshape(-1).view(item)
        out[p.name] = (flat, n) if p.is_list else flat
    return out, end


def _walk(data: bytes, pos: int, element: _Element, order: str, path: Path, limit: int):
    """Length of every list, start offset of every property, and the offset after the last
    of ``limit`` records."""
    counts = {p.name: np.zeros(limit, np.int64) for p in element.properties if p.is_list}
    starts = {p.name: np.zeros(limit, np.int64) for p in element.properties}
    layout = []
    for p in element.properties:
        if p.is_list:
            fmt = struct.Struct(order + _struct_code(p.count_dtype))
            layout.append((p.name, fmt, np.dtype(p.dtype).itemsize))
        else:
            layout.append((p.name, None, np.dtype(p.dtype).itemsize))
    size = len(data)
    for r in range(limit):
        for name, count_fmt, item in layout:
            if count_fmt is None:
                starts[name][r] = pos
                pos += item
                continue
            if pos + count_fmt.size > size:
                raise ScanError(path, f"truncated inside {element.name} record {r}")
            (n,) = count_fmt.unpack_from(data, pos)
            if n < 0:
                raise ScanError(path, f"negative list length in {element.name} record {r}")
            counts[name][r] = n
            starts[name][r] = pos + count_fmt.size
            pos += count_fmt.size + n * item
        if pos > size:
            raise ScanError(path, f"truncated inside {element.name} record {r}")
    return counts, starts, pos


def _struct_code(dtype: str) -> str:
    return {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I"}[dtype]


#: Numbers per list property of an ascii record allowed for in the size check (count + items).
_ASCII_LIST_ALLOWANCE = 32


def _read_ascii(body: bytes, elements: list[_Element], path: Path) -> _Values:
    """All elements of an ascii body; the body may hold no more numbers than the declared
    elements can (lists counted generously), checked before it is split."""
    allowed = sum(
        e.count * sum(_ASCII_LIST_ALLOWANCE if p.is_list else 1 for p in e.properties)
        for e in elements
    )
    numbers = parse_floats(body, path, "PLY body", max_count=allowed + 16)
    values: _Values = {}
    pos = 0
    for element in elements:
        n_props = len(element.properties)
        if element.count * n_props > len(numbers) - pos:
            raise ScanError(
                path,
                f"truncated: {element.count} {element.name} records declared, "
                f"only {len(numbers) - pos} numbers left",
            )
        if not any(p.is_list for p in element.properties):
            table = numbers[pos : pos + element.count * n_props].reshape(element.count, n_props)
            values[element.name] = {p.name: table[:, k] for k, p in enumerate(element.properties)}
            pos += element.count * n_props
        else:
            values[element.name], pos = _ascii_lists(numbers, pos, element, path)
    if pos != len(numbers):
        raise ScanError(path, f"{len(numbers) - pos} unexpected numbers after the last element")
    return values


def _ascii_lists(numbers: np.ndarray, pos: int, element: _Element, path: Path):
    """Records with list properties in a flat array of numbers: one reshape if every list has
    the first record's length, else a walk over the records."""
    uniform = _ascii_uniform(numbers, pos, element)
    if uniform is not None:
        return uniform
    counts = {p.name: np.zeros(element.count, np.int64) for p in element.properties if p.is_list}
    starts = {p.name: np.zeros(element.count, np.int64) for p in element.properties}
    total = len(numbers)
    listed = numbers.tolist() if element.count else []
    for r in range(element.count):
        for p in element.properties:
            if pos >= total:
                raise ScanError(path, f"truncated inside {element.name} record {r}")
            if p.is_list:
                n = listed[pos]
                if not float(n).is_integer() or n < 0:
                    raise ScanError(path, f"bad list length {n} in {element.name} record {r}")
                if n > total - pos - 1:
                    raise ScanError(
                        path,
                        f"truncated: list of {n:g} in {element.name} record "
                        f"{r} runs past the end of the file",
                    )
                counts[p.name][r] = n
                starts[p.name][r] = pos + 1
                pos += 1 + int(n)
            else:
                starts[p.name][r] = pos
                pos += 1
        if pos > total:
            raise ScanError(path, f"truncated inside {element.name} record {r}")
    out = {}
    for p in element.properties:
        if p.is_list:
            n = counts[p.name]
            index = np.repeat(starts[p.name], n) + (
                np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            )
            out[p.name] = (numbers[index], n)
        else:
            out[p.name] = numbers[starts[p.name]]
    return out, pos


def _ascii_uniform(numbers: np.ndarray, pos: int, element: _Element):
    """Records as a table when all lists match the first record's lengths, else None."""
    columns, width, cursor = {}, 0, pos
    for p in element.properties:
        if cursor >= len(numbers):
            return None
        if p.is_list:
            n = numbers[cursor]
            if not (np.isfinite(n) and n >= 0 and n == int(n)):
                return None
            columns[p.name] = (width, int(n))
            width += 1 + int(n)
            cursor += 1 + int(n)
        else:
            columns[p.name] = (width, None)
            width += 1
            cursor += 1
    if element.count * width > len(numbers) - pos:
        return None
    table = numbers[pos : pos + element.count * width].reshape(element.count, width)
    out = {}
    for name, (col, n) in columns.items():
        if n is None:
            out[name] = table[:, col]
            continue
        if not (table[:, col] == n).all():
            return None
        out[name] = (table[:, col + 1 : col + 1 + n].reshape(-1), np.full(element.count, n))
    return out, pos + element.count * width


def _to_mesh(
    values: _Values, declared: dict[str, str], path: Path, warnings: list[str]
) -> FaceMesh:
    """The mesh of the read elements; ``declared`` maps vertex property names to their type
    codes (ascii values are all parsed as float64, so the header says what they were)."""
    vertex = values.get("vertex")
    if vertex is None or not {"x", "y", "z"} <= vertex.keys():
        raise ScanError(path, "no vertex element with x, y, z")
    vertices = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in "xyz"], axis=1)
    face = values.get("face")
    if face is None:
        raise ScanError(path, "empty mesh: no face element")
    key = next((k for k in ("vertex_indices", "vertex_index") if k in face), None)
    if key is None or not isinstance(face[key], tuple):
        raise ScanError(path, "face element has no vertex_indices list")
    flat, arity = face[key]
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


# ---------------------------------------------------------------------------------- writing
def write_ply(path: str | Path, mesh: FaceMesh, binary: bool = True) -> None:
    """Write ``mesh`` as PLY: ``double x y z``, optional ``uchar red green blue``, per-vertex
    ``double s t`` or a face ``texcoord`` list for face-varying UVs, and faces of any arity.

    The texture (if any) is recorded as ``comment TextureFile <file name>``, which the reader
    looks for beside the written file.

    Raises:
        ValueError: the mesh is invalid.
    """
    path = Path(path)
    mesh.validate(path)
    corner_uv = mesh.corner_uv_indices()
    face_varying = mesh.uv_indices is not None and corner_uv is not None
    count_type = "uchar" if mesh.arities.max() <= 255 else "int"

    header = [
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        "comment written by facevlm",
    ]
    if mesh.texture_path is not None:
        header.append(f"comment TextureFile {Path(mesh.texture_path).name}")
    header += [f"element vertex {mesh.n_vertices}"] + [f"property double {k}" for k in "xyz"]
    columns = [(k, "<f8", mesh.vertices[:, i]) for i, k in enumerate("xyz")]
    if mesh.vertex_colors is not None:
        header += [f"property uchar {k}" for k in ("red", "green", "blue")]
        columns += [
            (k, "u1", mesh.vertex_colors[:, i]) for i, k in enumerate(("red", "green", "blue"))
        ]
    if mesh.has_uv and not face_varying:
        header += ["property double s", "property double t"]
        columns += [("s", "<f8", mesh.uv[:, 0]), ("t", "<f8", mesh.uv[:, 1])]
    header += [f"element face {mesh.n_polygons}", f"property list {count_type} int vertex_indices"]
    if face_varying:
        header.append(f"property list {count_type} double texcoord")
    header.append("end_header\n")

    lists = [(mesh.polygon_indices, 1, "<i4")]
    if face_varying:
        lists.append((mesh.uv[corner_uv].reshape(-1), 2, "<f8"))
    text = "\n".join(header).encode("ascii")
    if binary:
        vertices = np.empty(mesh.n_vertices, dtype=[(k, t) for k, t, _ in columns])
        for k, _, column in columns:
            vertices[k] = column
        body = vertices.tobytes() + _pack_faces(mesh.arities, lists, count_type)
    else:
        body = _ascii_body([c for _, _, c in columns], mesh.arities, lists).encode("ascii")
    path.write_bytes(text + body)


def _pack_faces(
    arities: np.ndarray, lists: list[tuple[np.ndarray, int, str]], count_type: str
) -> bytes:
    """Binary face records ``[count, values...]`` per list, polygons of any arity, vectorised."""
    count_dtype = np.dtype("u1" if count_type == "uchar" else "<i4")
    n_polygons = len(arities)
    sizes = np.zeros(n_polygons, dtype=np.int64)
    for _, per_corner, dtype in lists:
        sizes += count_dtype.itemsize + per_corner * arities * np.dtype(dtype).itemsize
    record_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    cursor = record_start.copy()
    for values, per_corner, dtype in lists:
        counts = (per_corner * arities).astype(count_dtype)
        _scatter(out, cursor, counts.view(np.uint8).reshape(n_polygons, -1))
        cursor += count_dtype.itemsize
        item = np.dtype(dtype).itemsize
        within = np.arange(len(values)) - np.repeat(
            np.cumsum(counts.astype(np.int64)) - counts, counts.astype(np.int64)
        )
        starts = np.repeat(cursor, counts.astype(np.int64)) + item * within
        _scatter(out, starts, values.astype(dtype).view(np.uint8).reshape(len(values), item))
        cursor += counts.astype(np.int64) * item
    return out.tobytes()


def _scatter(out: np.ndarray, starts: np.ndarray, rows: np.ndarray) -> None:
    out[starts[:, None] + np.arange(rows.shape[1])] = rows


def _ascii_body(
    columns: list[np.ndarray], arities: np.ndarray, lists: list[tuple[np.ndarray, int, str]]
) -> str:
    table = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1)
    is_int = [np.asarray(c).dtype.kind in "iu" for c in columns]
    cells = [
        [str(int(v)) if integer else repr(v) for v, integer in zip(row, is_int, strict=True)]
        for row in table.tolist()
    ]
    lines = [" ".join(row) for row in cells]
    bounds = np.concatenate([[0], np.cumsum(arities)]).tolist()
    for p in range(len(arities)):
        parts = []
        for values, per_corner, _ in lists:
            chunk = values[per_corner * bounds[p] : per_corner * bounds[p + 1]].tolist()
            parts.append(str(len(chunk)))
            parts += [str(v) if isinstance(v, int) else repr(v) for v in chunk]
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"

"""Writing a :class:`~facevlm.scans.mesh.FaceMesh` as PLY, binary (vectorised records) or ascii
(shortest round-tripping numbers).

Separate from the reader: it shares nothing with it but the format, and reading is what must
withstand hostile files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.mesh import FaceMesh


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

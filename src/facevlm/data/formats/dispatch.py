"""One entry point for every mesh format, and a JSON summary of a scan file.

Ingest, the CLI and the app should not care which dataset a file came from: :func:`read_mesh`
picks the reader from the extension, and :func:`inspect_mesh` reports what a file holds (counts,
polygon arities, UV layout, texture, landmarks) in a form that can be printed or stored as JSON
— the first thing to look at when a real collection misbehaves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from facevlm.data.errors import ScanError
from facevlm.data.formats.bnt import read_bnt_mesh
from facevlm.data.formats.landmarks import read_bnd, read_lm3
from facevlm.data.formats.obj import read_obj
from facevlm.data.formats.ply import read_ply
from facevlm.data.formats.vrml import read_vrml
from facevlm.data.mesh import FaceMesh

#: Extension (lower case) → (format name, reader).
READERS: dict[str, tuple[str, Callable[..., FaceMesh]]] = {
    ".wrl": ("vrml", read_vrml),
    ".vrml": ("vrml", read_vrml),
    ".obj": ("obj", read_obj),
    ".ply": ("ply", read_ply),
    ".bnt": ("bnt", read_bnt_mesh),
}

#: Landmark files looked for beside a mesh, same stem, in this order.
LANDMARK_SUFFIXES: tuple[str, ...] = (".bnd", ".landmark", ".lm3")


def read_mesh(path: str | Path, **kwargs) -> FaceMesh:
    """Read any supported mesh file, choosing the reader by extension (case-insensitive).

    Keyword arguments go to the reader (e.g. ``texture_fallback=`` for VRML).

    Raises:
        ScanError: an unsupported extension (the message lists the supported ones), or whatever
            the reader raises.
    """
    path = Path(path)
    entry = READERS.get(path.suffix.lower())
    if entry is None:
        supported = ", ".join(sorted(READERS))
        raise ScanError(
            path,
            f"unsupported mesh format {path.suffix or '(no extension)'!r}; supported: {supported}",
        )
    return entry[1](path, **kwargs)


def inspect_mesh(path: str | Path) -> dict:
    """A JSON-ready summary of a mesh file and the landmark file beside it.

    Keys: ``format``, ``n_vertices``, ``n_polygons``, ``n_triangles``, ``polygon_arity``
    (arity → count, keys as strings for JSON), ``has_uv``, ``n_uv``, ``face_varying_uv``,
    ``n_multi_uv_vertices`` (vertices carrying more than one UV: texture seams), ``texture``,
    ``bounds``, ``n_landmarks`` and ``landmarks_file`` (from a same-stem ``.bnd``, ``.landmark``
    or ``.lm3``; None when there is none or it is unreadable), ``warnings``.

    Raises:
        ScanError: the mesh itself cannot be read.
    """
    path = Path(path)
    mesh = read_mesh(path)
    warnings = list(mesh.metadata.get("warnings", []))
    arity, count = np.unique(mesh.arities, return_counts=True)
    landmarks_file, n_landmarks = _landmarks_beside(path, mesh.n_vertices, warnings)
    return {
        "path": str(path),
        "format": READERS[path.suffix.lower()][0],
        "n_vertices": mesh.n_vertices,
        "n_polygons": mesh.n_polygons,
        "n_triangles": mesh.n_triangles,
        "polygon_arity": {
            str(a): int(c) for a, c in zip(arity.tolist(), count.tolist(), strict=True)
        },
        "has_uv": mesh.has_uv,
        "n_uv": int(len(mesh.uv)) if mesh.uv is not None else 0,
        "face_varying_uv": mesh.uv_indices is not None,
        "n_multi_uv_vertices": _multi_uv_vertices(mesh),
        "texture": None if mesh.texture_path is None else str(mesh.texture_path),
        "bounds": mesh.bounds(),
        "n_landmarks": n_landmarks,
        "landmarks_file": landmarks_file,
        "warnings": warnings,
    }


def _multi_uv_vertices(mesh: FaceMesh) -> int:
    """How many vertices carry more than one distinct UV index (0 for per-vertex UVs)."""
    if mesh.uv_indices is None or not mesh.has_uv:
        return 0
    key = mesh.polygon_indices * len(mesh.uv) + mesh.uv_indices
    vertex_of_pair = np.unique(key) // len(mesh.uv)
    return int(np.count_nonzero(np.bincount(vertex_of_pair) > 1))


def _landmarks_beside(
    path: Path, n_vertices: int, warnings: list[str]
) -> tuple[str | None, int | None]:
    for suffix in LANDMARK_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if not candidate.is_file():
            continue
        try:
            if suffix == ".lm3":
                count = len(read_lm3(candidate))
            else:
                count = len(read_bnd(candidate, n_vertices=n_vertices)[0])
        except ScanError as exc:
            warnings.append(f"landmarks unreadable: {exc}")
            return str(candidate), None
        return str(candidate), count
    return None, None

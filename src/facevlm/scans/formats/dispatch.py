"""One entry point for every mesh format, and a JSON summary of a scan file.

Ingest, the CLI and the app should not care which dataset a file came from: :func:`read_mesh`
picks the reader from the extension, and :func:`inspect_mesh` reports what a file holds (counts,
polygon arities, UV layout, texture, landmarks) in a form that can be printed or stored as JSON
— the first thing to look at when a real collection misbehaves.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope
from facevlm.scans.formats._textures import texture_problem
from facevlm.scans.formats.bnt import read_bnt_mesh
from facevlm.scans.formats.gltf import read_gltf
from facevlm.scans.formats.landmarks import read_bnd, read_lm3
from facevlm.scans.formats.limits import ReadLimits
from facevlm.scans.formats.obj import read_obj
from facevlm.scans.formats.off import read_off
from facevlm.scans.formats.ply import read_ply
from facevlm.scans.formats.stl import read_stl
from facevlm.scans.formats.vrml import read_vrml
from facevlm.scans.mesh import FaceMesh

#: Extension (lower case) → (format name, reader). ``.wrl``/``.vrml`` hold VRML 2.0 or 1.0:
#: :func:`read_vrml` tells them apart by the header line (the name alone cannot).
READERS: dict[str, tuple[str, Callable[..., FaceMesh]]] = {
    ".wrl": ("vrml", read_vrml),
    ".vrml": ("vrml", read_vrml),
    ".obj": ("obj", read_obj),
    ".ply": ("ply", read_ply),
    ".bnt": ("bnt", read_bnt_mesh),
    ".stl": ("stl", read_stl),
    ".off": ("off", read_off),
    ".glb": ("gltf", read_gltf),
    ".gltf": ("gltf", read_gltf),
}

#: Landmark files looked for beside a mesh, same stem, in this order.
LANDMARK_SUFFIXES: tuple[str, ...] = (".bnd", ".landmark", ".lm3")


def read_mesh(
    path: str | Path,
    *,
    root: str | Path | None = None,
    limits: ReadLimits | None = None,
    **kwargs,
) -> FaceMesh:
    """Read any supported mesh file, choosing the reader by extension (case-insensitive).

    Args:
        root: the folder every file read (the scan, its texture and material) must resolve
            into, symlinks included: the dataset root for ingest. Default: the scan's own folder.
        limits: size limits (default :data:`~facevlm.scans.formats.limits.DEFAULT_LIMITS`).
        kwargs: go to the reader (e.g. ``texture_fallback=`` for VRML).

    Raises:
        ScanError: an unsupported extension (the message lists the supported ones), a mesh above
            the limits, or whatever the reader raises.
    """
    path = Path(path)
    entry = READERS.get(path.suffix.lower())
    if entry is None:
        supported = ", ".join(sorted(READERS))
        raise ScanError(
            path,
            f"unsupported mesh format {path.suffix or '(no extension)'!r}; supported: {supported}",
        )
    scope = ReadScope.around(path, root, limits)
    mesh = entry[1](path, scope=scope, **kwargs)
    return check_mesh_size(mesh, scope.limits, path)


def check_mesh_size(mesh: FaceMesh, limits: ReadLimits, path: str | Path) -> FaceMesh:
    """Refuse a mesh with more vertices, texture coordinates or polygons than ``limits`` allow
    (readers bound these before parsing; this is the check on what they produced)."""
    checks = (
        (mesh.n_vertices, limits.max_vertices, "vertices", "max_vertices"),
        (0 if mesh.uv is None else len(mesh.uv), limits.max_vertices, "texture coordinates",
         "max_vertices"),
        (mesh.n_polygons, limits.max_polygons, "polygons", "max_polygons"),
    )  # fmt: skip
    for n, limit, what, name in checks:
        if n > limit:
            raise ScanError(path, f"{n} {what}, above the limit of {limit} (limits.{name})")
    return mesh


def inspect_mesh(
    path: str | Path, *, root: str | Path | None = None, limits: ReadLimits | None = None
) -> dict:
    """A JSON-ready summary of a mesh file and the landmark file beside it.

    Keys: ``format`` (as the reader found it: ``vrml1`` for a VRML 1.0 ``.wrl``), ``encoding``
    (``ascii``/``binary`` for PLY and STL, else None), ``n_vertices``, ``n_polygons``,
    ``n_triangles``, ``polygon_arity`` (arity → count, keys as strings for JSON), ``has_uv``,
    ``has_vertex_colors`` (the colours the texture modality draws when there are no UVs),
    ``n_uv``, ``face_varying_uv``, ``n_multi_uv_vertices`` (vertices carrying more than one UV: texture seams), ``texture``,
    ``texture_embedded`` (the texture is inside the scan file, as a glTF binary holds it),
    ``bounds``, ``n_landmarks`` and ``landmarks_file`` (from a same-stem ``.bnd``, ``.landmark``
    or ``.lm3``; None when there is none or it is unreadable), ``warnings``.

    A texture that cannot be used (too large, too many pixels, not an image) is reported in
    ``warnings``; ``root`` and ``limits`` are as for :func:`read_mesh`.

    Raises:
        ScanError: the mesh itself cannot be read.
    """
    path = Path(path)
    scope = ReadScope.around(path, root, limits)
    mesh = read_mesh(path, root=root, limits=limits)
    warnings = list(mesh.metadata.get("warnings", []))
    embedded = mesh.texture_image is not None
    if (
        not embedded
        and mesh.texture_path is not None
        and (problem := texture_problem(mesh.texture_path, scope))
    ):
        warnings.append(problem)
    arity, count = np.unique(mesh.arities, return_counts=True)
    landmarks_file, n_landmarks = _landmarks_beside(path, mesh.n_vertices, warnings, scope)
    return {
        "path": str(path),
        "format": mesh.metadata.get("format", READERS[path.suffix.lower()][0]),
        "encoding": mesh.metadata.get("encoding"),
        "n_vertices": mesh.n_vertices,
        "n_polygons": mesh.n_polygons,
        "n_triangles": mesh.n_triangles,
        "polygon_arity": {
            str(a): int(c) for a, c in zip(arity.tolist(), count.tolist(), strict=True)
        },
        "has_uv": mesh.has_uv,
        "has_vertex_colors": mesh.vertex_colors is not None,
        "n_uv": int(len(mesh.uv)) if mesh.uv is not None else 0,
        "face_varying_uv": mesh.uv_indices is not None,
        "n_multi_uv_vertices": _multi_uv_vertices(mesh),
        "texture": None if mesh.texture_path is None else str(mesh.texture_path),
        "texture_embedded": embedded,
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
    path: Path, n_vertices: int, warnings: list[str], scope: ReadScope
) -> tuple[str | None, int | None]:
    for suffix in LANDMARK_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if not os.path.lexists(candidate):
            continue
        try:
            if suffix == ".lm3":
                count = len(read_lm3(candidate, scope=scope))
            else:
                count = len(read_bnd(candidate, n_vertices=n_vertices, scope=scope)[0])
        except ScanError as exc:
            warnings.append(f"landmarks unreadable: {exc}")
            return str(candidate), None
        return str(candidate), count
    return None, None

"""The in-memory face scan that every reader returns and every writer and renderer takes.

Why a type of our own rather than a ``pyvista.PolyData``: the datasets' files carry *shared*
vertices with *face-varying* texture coordinates (BU-3DFE: 7,968 vertices, 8,297 UVs, a separate
``texCoordIndex``). VTK can hold only one UV per point, so its VRML importer splits every polygon
corner into its own point and loses the connectivity. ``FaceMesh`` keeps the file's structure
exactly (polygons of any arity, a UV index per polygon corner), and converts to per-corner render
arrays only at the moment of rendering (:meth:`FaceMesh.render_arrays`).

Polygons are stored in compressed-row form, the layout every format here reduces to:

    polygon p has corners ``polygon_indices[polygon_offsets[p]:polygon_offsets[p + 1]]``

and, when UVs are face-varying, ``uv_indices`` has the same length as ``polygon_indices`` and the
same polygon structure (corner ``k`` of polygon ``p`` uses UV ``uv[uv_indices[k]]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError

#: Coordinates beyond this magnitude (in the file's units, millimetres for every dataset here)
#: are treated as corrupt: a face is about 200 mm across.
ABSURD_COORDINATE = 1e5

#: Extents below this fraction of the largest coordinate (at least 1 unit) count as zero: a
#: face collapsed to a point or a line is corruption (an all-zero grid, a scaled-away axis).
DEGENERATE_EXTENT = 1e-6

#: What a file of points without a surface is told (depth cameras export point clouds): the
#: renderer and the face pose need a triangle mesh.
POINT_CLOUD = (
    "a point cloud, not a surface: triangulate it first (e.g. MeshLab's ball pivoting or "
    "screened Poisson reconstruction)"
)
#: Triangles whose total area is checked first; only when they are all flat is the whole mesh
#: summed (a valid scan passes on the first sample, so the check costs microseconds).
_AREA_SAMPLE = 1024


@dataclass
class FaceMesh:
    """A polygon mesh with optional face-varying UVs, texture, landmarks and vertex colours.

    Attributes:
        vertices: ``(V, 3)`` float64 coordinates, millimetres, y up, nose toward +z.
        polygon_offsets: ``(P + 1,)`` int64, start of each polygon in ``polygon_indices``.
        polygon_indices: ``(K,)`` int64 vertex indices of all polygon corners.
        uv: ``(T, 2)`` float64 texture coordinates, VRML/OpenGL convention (v from the bottom),
            or ``None``.
        uv_indices: ``(K,)`` int64 UV index per polygon corner, or ``None`` when ``uv`` is given
            per vertex (then ``T == V`` and corner ``k`` uses ``uv[polygon_indices[k]]``).
        texture_path: the texture image the UVs refer to, resolved to an absolute path, or None;
            the scan file itself when the texture is embedded in it (``texture_image``).
        landmarks: ``(L, 3)`` float64 landmark coordinates, or ``None``.
        landmark_labels: one label per landmark (``None`` when the format has no labels).
        vertex_colors: ``(V, 3)`` uint8 per-vertex colours, or ``None``.
        source: the file this mesh was read from, for error messages.
    """

    vertices: np.ndarray
    polygon_offsets: np.ndarray
    polygon_indices: np.ndarray
    uv: np.ndarray | None = None
    uv_indices: np.ndarray | None = None
    texture_path: Path | None = None
    #: ``(H, W, 3)`` uint8, row 0 at the top: a texture embedded in the scan file (a glTF
    #: binary), decoded by the reader within the read limits; the renderer takes it first
    texture_image: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    landmark_labels: list[str] | None = None
    vertex_colors: np.ndarray | None = None
    source: Path | None = None
    metadata: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_polygons(cls, vertices, polygons, uv=None, uv_polygons=None, **kwargs) -> FaceMesh:
        """Build from a list of polygons (each a sequence of vertex indices) — convenient in tests."""
        offsets = np.zeros(len(polygons) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(p) for p in polygons])
        indices = np.fromiter(
            (i for p in polygons for i in p), dtype=np.int64, count=int(offsets[-1])
        )
        uv_indices = None
        if uv_polygons is not None:
            uv_indices = np.fromiter(
                (i for p in uv_polygons for i in p), dtype=np.int64, count=int(offsets[-1])
            )
        return cls(
            vertices=np.asarray(vertices, dtype=np.float64).reshape(-1, 3),
            polygon_offsets=offsets,
            polygon_indices=indices,
            uv=None if uv is None else np.asarray(uv, dtype=np.float64).reshape(-1, 2),
            uv_indices=uv_indices,
            **kwargs,
        )

    @classmethod
    def from_triangles(cls, vertices, triangles, uv=None, uv_triangles=None, **kwargs) -> FaceMesh:
        """Build from a ``(F, 3)`` triangle array (and optionally ``(F, 3)`` UV triangles)."""
        triangles = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
        offsets = np.arange(0, 3 * len(triangles) + 1, 3, dtype=np.int64)
        uv_indices = None if uv_triangles is None else np.asarray(uv_triangles, np.int64).ravel()
        return cls(
            vertices=np.asarray(vertices, dtype=np.float64).reshape(-1, 3),
            polygon_offsets=offsets,
            polygon_indices=triangles.ravel().copy(),
            uv=None if uv is None else np.asarray(uv, dtype=np.float64).reshape(-1, 2),
            uv_indices=uv_indices,
            **kwargs,
        )

    # ------------------------------------------------------------------ counts
    @property
    def n_vertices(self) -> int:
        return int(len(self.vertices))

    @property
    def n_polygons(self) -> int:
        return int(len(self.polygon_offsets) - 1)

    @property
    def arities(self) -> np.ndarray:
        """Number of corners of each polygon, ``(P,)``."""
        return np.diff(self.polygon_offsets)

    @property
    def n_triangles(self) -> int:
        """Triangles after fan triangulation (a quad counts two, a pentagon three)."""
        return int(np.sum(self.arities - 2)) if self.n_polygons else 0

    @property
    def has_uv(self) -> bool:
        return self.uv is not None and len(self.uv) > 0

    @property
    def n_landmarks(self) -> int | None:
        return None if self.landmarks is None else int(len(self.landmarks))

    def bounds(self) -> list[list[float]]:
        """``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` of the vertices."""
        return [self.vertices.min(axis=0).tolist(), self.vertices.max(axis=0).tolist()]

    # ------------------------------------------------------------------ triangulation
    def _fan(self, corner_values: np.ndarray) -> np.ndarray:
        """Fan-triangulate per-corner values: polygon (c0 c1 c2 c3) → (c0 c1 c2), (c0 c2 c3)."""
        arity = self.arities
        n_tri = arity - 2
        poly_of_tri = np.repeat(np.arange(self.n_polygons), n_tri)
        # position of each triangle inside its polygon: 0 .. arity-3
        first_tri = np.concatenate([[0], np.cumsum(n_tri)[:-1]]) if len(n_tri) else n_tri
        k = np.arange(int(n_tri.sum())) - np.repeat(first_tri, n_tri)
        start = self.polygon_offsets[:-1][poly_of_tri]
        return np.stack(
            [corner_values[start], corner_values[start + k + 1], corner_values[start + k + 2]],
            axis=1,
        )

    def triangles(self) -> np.ndarray:
        """``(F, 3)`` int64 vertex indices after fan triangulation."""
        return self._fan(self.polygon_indices)

    def corner_uv_indices(self) -> np.ndarray | None:
        """UV index of every polygon corner (``uv_indices`` or, for per-vertex UVs, the vertex)."""
        if not self.has_uv:
            return None
        return self.polygon_indices if self.uv_indices is None else self.uv_indices

    def render_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Points, triangles and per-point UVs in the form a renderer needs.

        VTK stores one UV per point, so a vertex that carries several UVs (a seam of the texture
        atlas) is split into one point per distinct (vertex, UV) pair — and only those: shared
        vertices with one UV stay shared, so shading stays smooth.

        Returns:
            points ``(N, 3)``, triangles ``(F, 3)`` into ``points``, tcoords ``(N, 2)`` or None.
        """
        corner_uv = self.corner_uv_indices()
        if corner_uv is None:
            return self.vertices, self.triangles(), None
        # one int64 key per (vertex, uv) pair: np.unique on a 1-D array is ~30x faster than on rows
        n_uv = len(self.uv)
        keys = self.polygon_indices * n_uv + corner_uv
        unique_keys, corner_to_point = np.unique(keys, return_inverse=True)
        corner_to_point = corner_to_point.ravel()
        points = self.vertices[unique_keys // n_uv]
        tcoords = self.uv[unique_keys % n_uv]
        return points, self._fan(corner_to_point), tcoords

    # ------------------------------------------------------------------ validation
    def validate(self, path: str | Path | None = None) -> FaceMesh:
        """Check the mesh is usable; raise :class:`ScanError` naming ``path`` and the reason.

        Returns ``self`` so readers can end with ``return mesh.validate(path)``.
        """
        path = path if path is not None else self.source
        v = self.vertices
        if v.ndim != 2 or v.shape[1] != 3:
            raise ScanError(path, f"vertices must be (V, 3), got shape {v.shape}")
        if len(v) == 0:
            raise ScanError(path, "empty mesh: no vertices")
        if self.n_polygons == 0:
            raise ScanError(path, f"empty mesh: no polygons ({len(v)} points: {POINT_CLOUD})")
        if not np.all(np.isfinite(v)):
            bad = int(np.count_nonzero(~np.isfinite(v).all(axis=1)))
            raise ScanError(path, f"{bad} vertices have NaN or infinite coordinates")
        if np.abs(v).max() > ABSURD_COORDINATE:
            raise ScanError(
                path, f"absurd coordinate {np.abs(v).max():.3g} (limit {ABSURD_COORDINATE:g})"
            )
        if len(self.polygon_indices) != self.polygon_offsets[-1] or self.polygon_offsets[0] != 0:
            raise ScanError(path, "polygon offsets do not match the index list")
        if np.any(self.arities < 3):
            raise ScanError(path, "polygon with fewer than 3 corners")
        if self.polygon_indices.min() < 0 or self.polygon_indices.max() >= len(v):
            raise ScanError(
                path,
                f"polygon index out of range (0..{len(v) - 1}): "
                f"{int(self.polygon_indices.min())}..{int(self.polygon_indices.max())}",
            )
        if self.uv is not None:
            if not np.all(np.isfinite(self.uv)):
                raise ScanError(path, "texture coordinates contain NaN or infinity")
            corner_uv = self.corner_uv_indices()
            if self.uv_indices is None and len(self.uv) != len(v):
                raise ScanError(path, f"{len(self.uv)} per-vertex UVs for {len(v)} vertices")
            if (
                corner_uv is not None
                and len(corner_uv)
                and (corner_uv.min() < 0 or corner_uv.max() >= len(self.uv))
            ):
                raise ScanError(
                    path, f"texture coordinate index out of range (0..{len(self.uv) - 1})"
                )
            if self.uv_indices is not None and len(self.uv_indices) != len(self.polygon_indices):
                raise ScanError(
                    path, "texCoordIndex does not have the polygon structure of coordIndex"
                )
        if self.landmarks is not None and not np.all(np.isfinite(self.landmarks)):
            raise ScanError(path, "landmarks contain NaN or infinity")
        problem = self.degeneracy()
        if problem:
            raise ScanError(path, f"degenerate geometry: {problem}")
        return self

    def degeneracy(self) -> str:
        """Why the geometry is degenerate ("" when it is not): all vertices (nearly) identical,
        zero bounding-box extent along two axes (a line), or zero total surface area.

        A flat mesh (one zero extent) is allowed: it renders, and tests use planar meshes.
        """
        v = self.vertices
        # per column: numpy's axis-0 reduction over 3 columns is ~10x slower than three 1-D ones
        low = np.array([v[:, k].min() for k in range(3)])
        high = np.array([v[:, k].max() for k in range(3)])
        extent = high - low
        tiny = DEGENERATE_EXTENT * max(1.0, float(np.abs(low).max()), float(np.abs(high).max()))
        if (extent <= tiny).all():
            return (
                f"all {len(v)} vertices are (nearly) identical "
                f"(bounding box {float(extent.max()):.3g} across)"
            )
        flat = [axis for axis, size in zip("xyz", extent.tolist(), strict=True) if size <= tiny]
        if len(flat) >= 2:
            return (
                f"zero bounding-box extent along {' and '.join(flat)}: the vertices lie on a line"
            )
        area_tiny = tiny * float(extent.max())
        if self._total_area(_AREA_SAMPLE) <= area_tiny and self._total_area(None) <= area_tiny:
            return "zero total surface area: every polygon is collapsed"
        return ""

    def _total_area(self, first: int | None) -> float:
        """Area of the first ``first`` polygons (all when None), fan-triangulated."""
        mesh = self
        if first is not None and self.n_polygons > first:
            end = int(self.polygon_offsets[first])
            mesh = FaceMesh(self.vertices, self.polygon_offsets[: first + 1],
                            self.polygon_indices[:end])  # fmt: skip
        tri = mesh.triangles()
        a, b, c = (self.vertices[tri[:, k]] for k in range(3))
        return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())

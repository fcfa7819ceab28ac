"""Render arrays of a :class:`FaceMesh`, fast, with the point-to-vertex map the renderer needs.

Why not just :meth:`FaceMesh.render_arrays`: it finds the distinct (vertex, UV) pairs with
``np.unique(..., axis=0)`` over all polygon corners, which costs about 50 ms on an 8,000-vertex
scan, longer than rendering its three views (about 25 ms). Here only the corners of the few seam
vertices are sorted, which gives the *same* arrays in the same order in well under 1 ms; a test
checks they stay identical to the contract's method. The renderer also needs to know which mesh vertex
each render point came from, to give the split copies of a seam vertex one smooth normal (and
to map per-vertex colours), which the contract's method does not return.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from facevlm.scans.mesh import FaceMesh


@dataclass(frozen=True)
class RenderArrays:
    """Per-point arrays for VTK: one point per distinct (vertex, UV) pair.

    Attributes:
        points: ``(N, 3)`` float64 positions.
        triangles: ``(F, 3)`` int64 indices into ``points``.
        tcoords: ``(N, 2)`` float64 UVs (v from the bottom), or None for a mesh without UVs.
        point_vertex: ``(N,)`` int64 index of the mesh vertex each point copies.
    """

    points: np.ndarray
    triangles: np.ndarray
    tcoords: np.ndarray | None
    point_vertex: np.ndarray


def _triangulate(mesh: FaceMesh, corner_values: np.ndarray) -> np.ndarray:
    """``(F, 3)`` per-corner values, fan-triangulated exactly like ``mesh.triangles()``."""
    if mesh.polygon_offsets[-1] == 3 * mesh.n_polygons:  # all triangles: nothing to fan
        return corner_values.reshape(-1, 3)
    # a copy whose "vertex" of each corner is the corner's value triangulates into value triangles
    return dataclasses.replace(mesh, polygon_indices=corner_values).triangles()


def render_arrays(mesh: FaceMesh) -> RenderArrays:
    """Same points, triangles and tcoords as ``mesh.render_arrays()``, plus ``point_vertex``.

    Points are ordered like the contract's ``np.unique`` over (vertex, UV) pairs: by vertex, then
    by UV index. Only the corners of seam vertices (those with several UVs) are sorted; every
    other vertex simply keeps its one UV, which is what makes this fast.
    """
    corner_uv = mesh.corner_uv_indices()
    corner_vertex = mesh.polygon_indices.astype(np.int64)
    n_vertices = mesh.n_vertices
    if corner_uv is None:
        return RenderArrays(
            points=mesh.vertices,
            triangles=_triangulate(mesh, mesh.polygon_indices),
            tcoords=None,
            point_vertex=np.arange(n_vertices, dtype=np.int64),
        )
    corner_uv = corner_uv.astype(np.int64)
    used = np.zeros(n_vertices, dtype=bool)
    used[corner_vertex] = True
    some_uv = np.zeros(n_vertices, dtype=np.int64)
    some_uv[corner_vertex] = corner_uv  # one of each vertex's UVs (the last written)
    seam = np.zeros(n_vertices, dtype=bool)
    seam[corner_vertex[corner_uv != some_uv[corner_vertex]]] = True

    # distinct (vertex, UV) pairs of the seam vertices only, sorted by vertex then UV
    n_uv = np.int64(len(mesh.uv))
    seam_corner = seam[corner_vertex]
    pair_keys, corner_pair = np.unique(
        corner_vertex[seam_corner] * n_uv + corner_uv[seam_corner], return_inverse=True
    )
    pair_vertex = pair_keys // n_uv
    rank_in_vertex = np.arange(len(pair_keys)) - np.searchsorted(pair_keys, pair_vertex * n_uv)

    points_per_vertex = used.astype(np.int64)
    points_per_vertex += np.bincount(pair_vertex, minlength=n_vertices) - seam
    first_point = np.cumsum(points_per_vertex) - points_per_vertex
    corner_to_point = first_point[corner_vertex]
    corner_to_point[seam_corner] += rank_in_vertex[corner_pair.ravel()]

    point_vertex = np.repeat(np.arange(n_vertices, dtype=np.int64), points_per_vertex)
    point_uv = some_uv[point_vertex]
    point_uv[first_point[pair_vertex] + rank_in_vertex] = pair_keys % n_uv
    return RenderArrays(
        points=mesh.vertices[point_vertex],
        triangles=_triangulate(mesh, corner_to_point),
        tcoords=mesh.uv[point_uv],
        point_vertex=point_vertex,
    )


def smooth_normals(arrays: RenderArrays, points: np.ndarray | None = None) -> np.ndarray:
    """``(N, 3)`` unit normals, area-weighted over each *mesh vertex*'s triangles.

    Accumulating per mesh vertex rather than per render point gives the split copies of a seam
    vertex the same normal, so the texture seam leaves no crease in the shading.
    ``points`` overrides ``arrays.points`` (e.g. the normalised positions).
    """
    points = arrays.points if points is None else points
    n_vertices = int(arrays.point_vertex.max()) + 1 if len(arrays.point_vertex) else 0
    per_vertex = area_weighted_normals(points, arrays.triangles, arrays.point_vertex, n_vertices)
    return per_vertex[arrays.point_vertex]


def triangle_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(F, 3)`` unnormalised normals of the ``(F, 3)`` ``triangles`` of ``points``:
    ``(b - a) x (c - a)``, whose length is twice the triangle's area.

    The one place a mesh's triangle normals and areas are computed, so that the vertex normals
    of the renderer, the face pose and the synthetic set all start from the same numbers.
    """
    # np.cross's products, coordinate by coordinate (the same operations, so the same bits):
    # gathering single columns of a large mesh costs several times less than whole rows
    x, y, z = np.asarray(points).T.copy()
    a, b, c = triangles.T
    ux, uy, uz = x[b] - x[a], y[b] - y[a], z[b] - z[a]
    vx, vy, vz = x[c] - x[a], y[c] - y[a], z[c] - z[a]
    return np.stack([uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx], axis=1)


def area_weighted_normals(
    points: np.ndarray,
    triangles: np.ndarray,
    vertex_of_point: np.ndarray | None = None,
    n_vertices: int | None = None,
) -> np.ndarray:
    """``(n_vertices, 3)`` unit normals: at each vertex, the sum of the unnormalised normals
    (length = twice the area, :func:`triangle_normals`) of the ``(F, 3)`` ``triangles`` of
    ``points`` that meet there; zero for a vertex no triangle uses. ``vertex_of_point`` maps each
    point to the vertex it counts for (the renderer's seam copies of one vertex); default: each
    point is a vertex.

    The package's per-vertex normals of a triangle mesh: the renderer's smooth shading, the face
    pose's scan surface, the surface-motion maps, scanner variety and the ICT-FaceKit painting
    and template all use it.
    """
    face_normals = triangle_normals(points, triangles)
    corners = (triangles if vertex_of_point is None else vertex_of_point[triangles]).ravel()
    if n_vertices is None:
        n_vertices = len(points)
    accumulated = np.stack(
        [
            np.bincount(corners, np.repeat(face_normals[:, k], 3), minlength=n_vertices)
            for k in range(3)
        ],
        axis=1,
    )
    length = np.linalg.norm(accumulated, axis=1, keepdims=True)
    return np.divide(accumulated, length, out=np.zeros_like(accumulated), where=length > 0)


def polygon_edges(offsets: np.ndarray, indices: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """The distinct polygon sides ``(a, b)`` (``a < b``) of a mesh of ``n`` vertices and how
    many polygons use each (1: the side lies on an open border); ``offsets``/``indices`` as
    :class:`~facevlm.scans.mesh.FaceMesh` stores its polygons."""
    keys, counts = np.unique(_side_keys(offsets, indices, n), return_counts=True)
    return keys // n, keys % n, counts


def _side_keys(offsets: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:
    """One key ``a * n + b`` (``a < b``) per polygon side, a side shared by two polygons twice."""
    following = np.arange(1, len(indices) + 1)
    following[offsets[1:] - 1] = offsets[:-1]
    ends = indices[following]
    return np.minimum(indices, ends) * np.int64(n) + np.maximum(indices, ends)


def distinct_sides(
    offsets: np.ndarray, indices: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct polygon sides as sorted keys ``a * n + b`` (``a < b``), and which of them
    one polygon alone uses (the open border). One sort gives both: a caller that needs the
    mesh's pieces and its border reads them from the same keys."""
    # sorted, a side used once differs from both its neighbours: several times faster than
    # counting every side (:func:`polygon_edges`) where only the once-used ones are wanted
    keys = np.sort(_side_keys(offsets, indices, n))
    if len(keys) == 0:
        return keys, np.zeros(0, dtype=bool)
    repeated = keys[1:] == keys[:-1]
    first = np.concatenate([[True], ~repeated])
    once = first & np.concatenate([~repeated, [True]])
    return keys[first], once[first]


def border_edges(offsets: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:
    """``(B, 2)`` the polygon sides used by exactly one polygon: the mesh's open borders (crop
    edges, hole rims), sorted as :func:`polygon_edges` lists them."""
    keys, once = distinct_sides(offsets, indices, n)
    keys = keys[once]
    return np.stack([keys // n, keys % n], axis=1)

"""The mesh being degraded (:class:`_Scan`) and the bookkeeping every stage shares: polygons
fanned into triangles, edge graphs, open-border loops, the landmarks' anchor vertices, and the
removal of vertices with their polygons, UVs, colours and anchors kept consistent.

Separate because the cutting stages and the remeshing both add and remove vertices through
these helpers, so that UVs, colours and landmarks stay consistent in one place (module doc of
:mod:`facevlm.synthetic.scanner_variety`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from facevlm.render.arrays import area_weighted_normals, border_edges, triangle_normals
from facevlm.scans.mesh import FaceMesh


@dataclass
class _Scan:
    """The arrays being degraded, plus the landmarks' anchors (see the package docstring)."""

    vertices: np.ndarray
    offsets: np.ndarray
    indices: np.ndarray
    uv: np.ndarray | None
    uv_indices: np.ndarray | None
    colours: np.ndarray | None
    landmarks: np.ndarray | None
    anchors: np.ndarray | None
    moved: set

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    def triangles(self) -> np.ndarray:
        return _fan(self.offsets, self.indices)

    def move_landmarks_with(self, old_vertices: np.ndarray) -> None:
        """After vertices moved in place: each landmark moves as its anchor did."""
        if self.landmarks is not None:
            self.landmarks = self.landmarks + (
                self.vertices[self.anchors] - old_vertices[self.anchors]
            )

    def reanchor(self, new_anchor: np.ndarray, old_position: np.ndarray) -> None:
        """Hand the landmarks to ``new_anchor`` (indices into the current vertices), moving them
        by the step from ``old_position`` (their old anchors' positions) to the new anchor."""
        if self.landmarks is None:
            return
        step = self.vertices[new_anchor] - old_position
        changed = np.flatnonzero(np.any(step != 0, axis=1))
        self.moved.update(int(k) for k in changed)
        self.landmarks = self.landmarks + step
        self.anchors = new_anchor


def _fan(offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-corner ``values`` fan-triangulated into ``(F, 3)`` exactly as :meth:`FaceMesh.triangles`."""
    arity = np.diff(offsets)
    if len(arity) and (arity == 3).all():
        return values.reshape(-1, 3)
    n_tri = arity - 2
    start = np.repeat(offsets[:-1], n_tri)
    k = np.arange(int(n_tri.sum())) - np.repeat(np.cumsum(n_tri) - n_tri, n_tri)
    return np.stack([values[start], values[start + k + 1], values[start + k + 2]], axis=1)


def _adjacency(a: np.ndarray, b: np.ndarray, n: int, points: np.ndarray | None = None):
    """Symmetric sparse ``(n, n)`` matrix of the sides ``(a, b)``: 1 each, or with ``points``
    each side's length."""
    w = np.ones(len(a)) if points is None else np.linalg.norm(points[a] - points[b], axis=1)
    rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    return coo_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n)).tocsr()


def boundary_loops(mesh: FaceMesh) -> np.ndarray:
    """Lengths (in the mesh's units) of the open borders, one per connected border, longest
    first: a clean face mask has its outer border (and here the eye and mouth openings); every
    hole adds one."""
    edges = border_edges(mesh.polygon_offsets, mesh.polygon_indices, mesh.n_vertices)
    return _loop_lengths(mesh.vertices, edges)[0]


def _loop_lengths(vertices: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the connected borders made of ``edges`` (longest first) and each vertex's
    border label (-1 off the border), labels numbered in the same order as the lengths."""
    n = len(vertices)
    labels = np.full(n, -1, dtype=np.int64)
    if len(edges) == 0:
        return np.zeros(0), labels
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    on_border = np.unique(edges)
    ids, local = np.unique(component[on_border], return_inverse=True)
    sums = np.bincount(local[np.searchsorted(on_border, edges[:, 0])], length, len(ids))
    order = np.argsort(-sums, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels[on_border] = rank[local]
    return sums[order], labels


def _landmark_anchors(mesh: FaceMesh) -> np.ndarray | None:
    if mesh.landmarks is None or len(mesh.landmarks) == 0:
        return None
    named = mesh.metadata.get("landmark_indices")
    if named is not None:
        named = np.asarray(named, dtype=np.int64).ravel()
        if (
            len(named) == len(mesh.landmarks)
            and named.min() >= 0
            and named.max() < len(mesh.vertices)
        ):
            return named
    used = np.flatnonzero(np.bincount(mesh.polygon_indices, minlength=len(mesh.vertices)))
    tree = cKDTree(mesh.vertices[used], balanced_tree=False, compact_nodes=False)
    return used[tree.query(mesh.landmarks)[1]]


def _vertex_normals_and_areas(scan: _Scan) -> tuple[np.ndarray, np.ndarray]:
    tri = scan.triangles()
    v = scan.vertices
    normals = area_weighted_normals(v, tri)
    area = 0.5 * np.linalg.norm(triangle_normals(v, tri), axis=1)
    return normals, np.bincount(tri.ravel(), np.repeat(area / 3.0, 3), len(v))


def _remove_vertices(scan: _Scan, remove: np.ndarray) -> int:
    """Drop the polygons that touch a removed vertex and everything no polygon uses any more;
    landmarks whose anchor went move to the nearest kept vertex. Returns vertices dropped."""
    if not remove.any():
        return 0
    arity = np.diff(scan.offsets)
    bad = np.add.reduceat(remove[scan.indices].astype(np.int64), scan.offsets[:-1]) > 0
    keep_corner = np.repeat(~bad, arity)
    offsets = np.concatenate([[0], np.cumsum(arity[~bad])]).astype(np.int64)
    before = scan.n_vertices
    _compact(scan, offsets, scan.indices[keep_corner],
             None if scan.uv_indices is None else scan.uv_indices[keep_corner])  # fmt: skip
    return before - scan.n_vertices


def _compact(
    scan: _Scan,
    offsets: np.ndarray,
    indices: np.ndarray,
    uv_indices: np.ndarray | None,
    anchor_map: np.ndarray | None = None,
) -> None:
    """Install new polygons and keep only the vertices (and UVs) they use. ``anchor_map`` hands
    each old vertex to another (decimation); otherwise a lost anchor goes to the nearest kept
    vertex."""
    used = np.zeros(scan.n_vertices, dtype=bool)
    used[indices] = True
    new_index = np.cumsum(used) - 1
    old_vertices = scan.vertices
    if scan.landmarks is not None:
        anchors = scan.anchors if anchor_map is None else anchor_map[scan.anchors]
        lost = ~used[anchors]
        if lost.any():
            kept = np.flatnonzero(used)
            anchors = anchors.copy()
            anchors[lost] = kept[cKDTree(old_vertices[kept]).query(old_vertices[anchors[lost]])[1]]
        old_position = old_vertices[scan.anchors]
    scan.vertices = old_vertices[used]
    scan.offsets = offsets
    scan.indices = new_index[indices]
    if scan.colours is not None:
        scan.colours = scan.colours[used]
    if scan.uv is not None:
        if scan.uv_indices is None:
            scan.uv = scan.uv[used]
        else:
            uv_used = np.zeros(len(scan.uv), dtype=bool)
            uv_used[uv_indices] = True
            scan.uv = scan.uv[uv_used]
            scan.uv_indices = (np.cumsum(uv_used) - 1)[uv_indices]
    if scan.landmarks is not None:
        scan.reanchor(new_index[anchors], old_position)

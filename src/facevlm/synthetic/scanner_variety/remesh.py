"""The software's remeshing (``density``): fewer vertices by clustering on a grid, or more by
splitting the longest edges on the curved surface, UVs across texture seams, colours and
landmark anchors carried along.

Separate because it is the one stage that rebuilds the polygons (the mesh comes back as
triangles) and the largest: the other stages keep or cut the polygons they are given.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from facevlm.render.arrays import area_weighted_normals, triangle_normals
from facevlm.synthetic.scanner_variety.settings import ScannerVariety
from facevlm.synthetic.scanner_variety.working_copy import _compact, _fan, _Scan


def _remesh(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    low, high = variety.density
    factor = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    if low == high:
        factor = low
    if factor == 1.0:
        return {"density": 1.0}
    before = scan.n_vertices
    if factor < 1.0:
        _decimate(scan, factor)
    else:
        _subdivide(scan, factor)
    return {"density": factor, "vertex_factor": scan.n_vertices / before}


def _triangulated(scan: _Scan) -> tuple[np.ndarray, np.ndarray | None]:
    tri = scan.triangles()
    tri_uv = None if scan.uv_indices is None else _fan(scan.offsets, scan.uv_indices)
    return tri, tri_uv


def _clusters(v: np.ndarray, edges: np.ndarray, cell: float) -> tuple[int, np.ndarray]:
    """Vertex clusters: vertices in one grid cell *and* joined by mesh edges inside it, so that
    surfaces that only pass close by (the two lips, an eyelid and the eyeball behind it) are
    never merged."""
    grid = np.floor((v - v.min(axis=0)) / cell).astype(np.int64)
    size = grid.max(axis=0) + 1
    key = (grid[:, 0] * size[1] + grid[:, 1]) * size[2] + grid[:, 2]
    same = key[edges[:, 0]] == key[edges[:, 1]]
    n = len(v)
    graph = coo_matrix((np.ones(int(same.sum())), (edges[same, 0], edges[same, 1])), shape=(n, n))
    return connected_components(graph, directed=False)


def _decimate(scan: _Scan, factor: float) -> None:
    """Vertex clustering on a grid whose cell is tuned to reach ``factor`` of the vertices.

    Each cluster keeps one of its own vertices (so its UVs and colour stay exact), preferring a
    texture-seam vertex (it has the UVs of both sides, so no triangle stretches across the
    atlas), then a landmark anchor, then the vertex nearest the cluster's centroid.
    """
    tri, tri_uv = _triangulated(scan)
    v = scan.vertices
    used = np.zeros(len(v), dtype=bool)
    used[tri] = True
    n_used = int(used.sum())
    target = max(4, int(round(factor * n_used)))
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    area = 0.5 * np.linalg.norm(triangle_normals(v, tri), axis=1).sum()
    # clusters ~ cell ** -slope: start from slope 2 (a surface), then the secant in log-log
    cell, slope, previous = np.sqrt(area / target), 2.0, None
    best = None
    for _ in range(8):
        n_labels, labels = _clusters(v, edges, cell)
        count = n_labels - (len(v) - n_used)  # an unused vertex is a cluster of its own
        if best is None or abs(count - target) < abs(best[0] - target):
            best = (count, labels)
        if abs(count - target) <= 0.01 * target:
            break
        if previous is not None and previous[1] != count and previous[0] != cell:
            slope = np.clip(-np.log(count / previous[1]) / np.log(cell / previous[0]), 0.5, 4.0)
        previous = (cell, count)
        cell *= (count / target) ** (1.0 / slope)
    _, labels = best

    priority = np.zeros(len(v), dtype=np.int64)
    if scan.landmarks is not None:
        priority[scan.anchors] = 1
    pair_vertex = pair_uv = None
    if tri_uv is not None:
        n_uv = np.int64(len(scan.uv))
        pairs = np.unique(tri.ravel() * n_uv + tri_uv.ravel())
        pair_vertex, pair_uv = pairs // n_uv, pairs % n_uv
        uv_count = np.bincount(pair_vertex, minlength=len(v))
        priority[uv_count > 1] = 2
    n_labels = int(labels.max()) + 1
    centroid = np.stack([np.bincount(labels, v[:, k], n_labels) for k in range(3)], axis=1)
    centroid /= np.bincount(labels, minlength=n_labels)[:, None]
    distance = np.linalg.norm(v - centroid[labels], axis=1)
    order = np.lexsort((distance, -priority, labels))
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    representative_of = np.empty(n_labels, dtype=np.int64)
    representative_of[labels[order][first]] = order[first]
    rep = representative_of[labels]

    new_tri = rep[tri]
    keep = (
        (new_tri[:, 0] != new_tri[:, 1])
        & (new_tri[:, 1] != new_tri[:, 2])
        & (new_tri[:, 0] != new_tri[:, 2])
    )
    rows = _distinct_triangles(new_tri, np.flatnonzero(keep), len(v))
    new_uv = None
    if tri_uv is not None:
        # each corner takes the representative's UV nearest its own: the same side of a seam
        corner_vertex = rep[tri[rows]].ravel()
        corner_uv = scan.uv[tri_uv[rows].ravel()]
        start = np.searchsorted(pair_vertex, corner_vertex)
        count = uv_count[corner_vertex]
        best_pair = start.copy()
        best_gap = np.linalg.norm(scan.uv[pair_uv[start]] - corner_uv, axis=1)
        for k in range(1, int(count.max())):
            has = count > k
            gap = np.full(len(start), np.inf)
            gap[has] = np.linalg.norm(scan.uv[pair_uv[start[has] + k]] - corner_uv[has], axis=1)
            better = gap < best_gap
            best_pair[better] = start[better] + k
            best_gap[better] = gap[better]
        new_uv = pair_uv[best_pair]
    offsets = np.arange(0, 3 * len(rows) + 1, 3, dtype=np.int64)
    _compact(scan, offsets, new_tri[rows].ravel(), new_uv, anchor_map=rep)


def _distinct_triangles(tri: np.ndarray, rows: np.ndarray, n_vertices: int) -> np.ndarray:
    """``rows`` of ``tri`` less repeats: of triangles with the same corners in the same turning
    order the first is kept; a pair in opposite orders (a fold of the collapsed surface, two
    faces back to back) is dropped both."""
    t = tri[rows]
    first = t.argmin(axis=1)
    turned = np.stack([t[np.arange(len(t)), (first + k) % 3] for k in range(3)], axis=1)
    n = np.int64(n_vertices)
    oriented = (turned[:, 0] * n + turned[:, 1]) * n + turned[:, 2]
    _, first_row = np.unique(oriented, return_index=True)
    rows, turned = rows[np.sort(first_row)], turned[np.sort(first_row)]
    # keeping one face of a fold would leave its neighbours' edges open (small holes)
    triple = np.sort(turned, axis=1)
    _, inverse, counts = np.unique((triple[:, 0] * n + triple[:, 1]) * n + triple[:, 2],
                                   return_inverse=True, return_counts=True)  # fmt: skip
    return rows[counts[inverse.ravel()] == 1]


def _split_templates(c: np.ndarray, m: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Triangles of each triangle with corners ``c`` (F, 3) whose sides ``k`` (corner k to
    k + 1) are split at ``m[:, k]`` where ``split[:, k]``: one, two or four triangles, the
    orientation kept and neighbours sharing every new vertex, so there are no cracks."""
    n_split = split.sum(axis=1)
    out = [c[n_split == 0]]
    one = np.flatnonzero(n_split == 1)
    if len(one):  # rotate so that the split side is side 0
        r = split[one].argmax(axis=1)
        cc = np.stack([c[one, (r + i) % 3] for i in range(3)], axis=1)
        m0 = m[one, r]
        out += [np.stack([cc[:, 0], m0, cc[:, 2]], 1), np.stack([m0, cc[:, 1], cc[:, 2]], 1)]
    two = np.flatnonzero(n_split == 2)
    if len(two):  # rotate so that the unsplit side is side 2
        r = ((~split[two]).argmax(axis=1) + 1) % 3
        cc = np.stack([c[two, (r + i) % 3] for i in range(3)], axis=1)
        mm = np.stack([m[two, (r + i) % 3] for i in range(2)], axis=1)
        out += [
            np.stack([mm[:, 0], cc[:, 1], mm[:, 1]], 1),
            np.stack([cc[:, 0], mm[:, 0], mm[:, 1]], 1),
            np.stack([cc[:, 0], mm[:, 1], cc[:, 2]], 1),
        ]
    three = np.flatnonzero(n_split == 3)
    if len(three):
        cc, mm = c[three], m[three]
        out += [
            np.stack([cc[:, 0], mm[:, 0], mm[:, 2]], 1),
            np.stack([mm[:, 0], cc[:, 1], mm[:, 1]], 1),
            np.stack([mm[:, 2], mm[:, 1], cc[:, 2]], 1),
            np.stack([mm[:, 0], mm[:, 1], mm[:, 2]], 1),
        ]
    return np.concatenate(out)


def _subdivide(scan: _Scan, factor: float) -> None:
    """Split the longest edges at their midpoints until there are ``factor`` times the vertices
    (a pass splits at most every edge; up to four passes). Every old vertex keeps its place and
    its index; a new one lies on the curved surface through its edge's ends (see below), as a
    scanner's finer sampling of the same face would."""
    target = int(round(factor * scan.n_vertices))
    for _ in range(4):
        if scan.n_vertices >= target:
            break
        _split_longest_edges(scan, target - scan.n_vertices)


def _split_longest_edges(scan: _Scan, n_new: int) -> None:
    tri, tri_uv = _triangulated(scan)
    v = scan.vertices
    n = np.int64(len(v))
    sides = np.stack([tri, np.roll(tri, -1, axis=1)], axis=-1)  # (F, 3, 2): corner k to k + 1
    keys = sides.min(axis=-1) * n + sides.max(axis=-1)
    edge_keys, edge_of_side = np.unique(keys, return_inverse=True)
    edge_of_side = edge_of_side.reshape(tri.shape)
    a, b = edge_keys // n, edge_keys % n
    length = np.linalg.norm(v[a] - v[b], axis=1)
    if n_new >= len(edge_keys):
        split_edge = np.ones(len(edge_keys), dtype=bool)
    else:
        split_edge = np.zeros(len(edge_keys), dtype=bool)
        split_edge[np.argpartition(-length, n_new)[:n_new]] = True
    midpoint = np.full(len(edge_keys), -1, dtype=np.int64)
    ids = np.flatnonzero(split_edge)
    midpoint[ids] = n + np.arange(len(ids))
    split = split_edge[edge_of_side]
    # the midpoint of the edge's curve in a PN triangle (cubic, from the end normals), not of
    # the straight edge: a finer scan samples the curved face, and flat midpoints would shade
    # as facets
    normals = area_weighted_normals(v, tri)
    na, nb = normals[a[ids]], normals[b[ids]]
    edge = v[b[ids]] - v[a[ids]]
    bulge = (np.einsum("ij,ij->i", edge, na)[:, None] * na
             - np.einsum("ij,ij->i", edge, nb)[:, None] * nb) / 8.0  # fmt: skip
    scan.vertices = np.concatenate([v, 0.5 * (v[a[ids]] + v[b[ids]]) - bulge])
    if scan.colours is not None:
        mean = (scan.colours[a[ids]].astype(np.int64) + scan.colours[b[ids]] + 1) // 2
        scan.colours = np.concatenate([scan.colours, mean.astype(np.uint8)])
    new_tri = _split_templates(tri, midpoint[edge_of_side], split)
    new_uv_tri = None
    if scan.uv is not None and scan.uv_indices is None:
        scan.uv = np.concatenate([scan.uv, 0.5 * (scan.uv[a[ids]] + scan.uv[b[ids]])])
    elif scan.uv is not None:
        # one new UV per split side and pair of corner UVs: a side on a texture seam gets one
        # UV per side of the seam, the two halves' means
        n_uv = np.int64(len(scan.uv))
        uv_sides = np.stack([tri_uv, np.roll(tri_uv, -1, axis=1)], axis=-1)
        lo, hi = uv_sides.min(axis=-1), uv_sides.max(axis=-1)
        pair_keys = (edge_of_side * n_uv + lo) * n_uv + hi
        unique_pairs, uv_of_side = np.unique(pair_keys[split], return_inverse=True)
        pair_lo = (unique_pairs // n_uv) % n_uv
        pair_hi = unique_pairs % n_uv
        side_uv = np.full(tri.shape, -1, dtype=np.int64)
        side_uv[split] = n_uv + uv_of_side.ravel()
        scan.uv = np.concatenate([scan.uv, 0.5 * (scan.uv[pair_lo] + scan.uv[pair_hi])])
        new_uv_tri = _split_templates(tri_uv, side_uv, split)
    scan.offsets = np.arange(0, 3 * len(new_tri) + 1, 3, dtype=np.int64)
    scan.indices = new_tri.ravel()
    scan.uv_indices = None if new_uv_tri is None else new_uv_tri.ravel()

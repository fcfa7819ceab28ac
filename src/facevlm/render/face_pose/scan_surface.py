"""The scan as the fit sees it (:class:`_Scan`), computed once from the mesh alone: a subsample
of its surface points with unit normals and a search tree, the points at its open border, and
its full-density vertices without scanner spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from facevlm.render.arrays import area_weighted_normals, distinct_sides

#: Scan points the fit uses at most (a uniform subsample of a dense scan is as good, and fast).
SCAN_POINTS = 4000
#: Scan points within this many point spacings of the scan's open border take no part in the
#: fit's pairs (see :func:`_near_border`); a mesh whose border holds more than
#: ``BORDER_SOUP`` of its vertices is a soup of loose triangles and has none.
BORDER_REACH = 1.0
BORDER_SOUP = 0.5
#: An edge this many times the median edge marks a spike (:func:`_on_long_edges`).
SPIKE_EDGES = 6.0


@dataclass
class _Scan:
    """The scan as the fit sees it: a subsample of its surface points with unit normals."""

    points: np.ndarray
    normals: np.ndarray
    points_normals: np.ndarray  # the two side by side, ``(M, 6)``: one gather fetches both
    tree: cKDTree
    spacing: float  # median distance between neighbouring points
    #: points at the scan's open border (its crop edge, a hole's rim, a cut forehead): a
    #: template point whose nearest scan point lies there has no counterpart on the scan
    border: np.ndarray
    #: every vertex with a usable normal that is no spike, and its normal: the nose profile
    #: (:func:`_nose_step`) needs the scan's full density along a narrow strip, and the
    #: relief (:func:`_relief`) an even sampling of the face's area
    dense: np.ndarray
    dense_normals: np.ndarray


def _scan_surface(
    vertices: np.ndarray, triangles: np.ndarray, n_points: int = SCAN_POINTS
) -> _Scan:
    """The fit's view of the scan; normals face away from the centre of their piece of the
    scan, whichever way its triangles are wound (:func:`_outward`), so that a fit to the back
    of a thin face crop, which has the same shape as its front (a face is left-right
    symmetric), does not count: the template's normals point out of the face. The fit
    samples ``n_points`` of the scan's points."""
    sides = _sides(len(vertices), triangles)
    normals = _outward(vertices, triangles, area_weighted_normals(vertices, triangles), sides)
    usable = np.flatnonzero(np.einsum("ij,ij->i", normals, normals) > 0.25)
    used = usable  # the fit's subsample of them
    if len(used) > n_points:
        used = np.sort(np.random.default_rng(0).choice(used, n_points, replace=False))
    points = vertices[used]
    tree = cKDTree(points)
    spacing = float(np.median(tree.query(points[:500], k=2)[0][:, 1])) if len(points) > 1 else 0.0
    border = _near_border(vertices, triangles, points, spacing, sides)
    dense = usable[~_on_long_edges(vertices, triangles)[usable]]
    pairs = np.concatenate([points, normals[used]], axis=1)
    return _Scan(
        points,
        normals[used],
        pairs,
        tree,
        spacing,
        border,
        vertices[dense],
        normals[dense],
    )


def _sides(n_vertices: int, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh's distinct triangle sides and which of them lie on its open border
    (:func:`~facevlm.render.arrays.distinct_sides`).

    Why one sort for both: the pieces of the mesh (:func:`_outward`) and its open border
    (:func:`_near_border`) are each read from the sides, and sorting them is most of the cost."""
    offsets = np.arange(0, 3 * len(triangles) + 1, 3)
    return distinct_sides(offsets, triangles.ravel(), n_vertices)


def _outward(
    vertices: np.ndarray,
    triangles: np.ndarray,
    normals: np.ndarray,
    sides: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``normals`` turned, piece by piece of the mesh (its connected components), to face away
    from that piece's centre.

    Why piece by piece: one vote over the whole scan lets its largest piece decide for all. A
    depth camera's capture of a sitter before a wall holds the face and the wall, both wound
    towards the camera; away from the scene's centre, the wall's normals point back at the
    camera and the face's into the head, and no fit of a face would match. Each piece on its
    own (a face crop, a head, an eyeball, a torso) faces away from its own centre; a flat
    piece (the wall) is nothing like a face whichever way it faces."""
    n = len(vertices)
    if len(triangles) == 0:
        return normals
    keys, _ = _sides(n, triangles) if sides is None else sides
    # the sides are sorted by their first vertex: the graph's rows without another sort
    starts = np.concatenate([[0], np.cumsum(np.bincount(keys // n, minlength=n))])
    edges = csr_matrix((np.ones(len(keys)), keys % n, starts), shape=(n, n))
    _, piece = connected_components(edges, directed=True, connection="weak")
    counts = np.bincount(piece)
    centres = np.stack(
        [np.bincount(piece, vertices[:, axis]) / counts for axis in range(3)], axis=1
    )
    votes = np.bincount(
        piece, np.einsum("ij,ij->i", normals, vertices - centres[piece]), minlength=len(counts)
    )
    return normals * np.where(votes[piece] < 0, -1.0, 1.0)[:, None]


def _on_long_edges(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Which vertices end an edge many times longer than the mesh's typical edge: a scanner's
    spike (a vertex thrown far off the surface) and its neighbours. The nose profile and the
    relief test look for the most forward point and for departures from a smooth surface,
    which one spike would spoil; losing a few genuine vertices at a long edge costs nothing."""
    spiky = np.zeros(len(vertices), dtype=bool)
    if len(triangles) == 0:
        return spiky
    # two sides of each triangle reach every vertex of it; coordinate by coordinate, as
    # gathering whole rows of a large mesh costs several times more
    columns = vertices.T.copy()
    squared = [np.zeros(len(triangles)), np.zeros(len(triangles))]
    for axis in range(3):
        for side, (a, b) in enumerate(((0, 1), (1, 2))):
            step = columns[axis][triangles[:, b]] - columns[axis][triangles[:, a]]
            squared[side] += step * step
    typical = np.median(squared[0][:: max(1, len(triangles) // 5000)])  # a sample's will do
    for side, (a, b) in enumerate(((0, 1), (1, 2))):
        long = np.flatnonzero(squared[side] > SPIKE_EDGES**2 * typical)
        spiky[triangles[long, a]] = True
        spiky[triangles[long, b]] = True
    return spiky


def _near_border(
    vertices: np.ndarray,
    triangles: np.ndarray,
    points: np.ndarray,
    spacing: float,
    sides: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Which of ``points`` lie within about one point spacing of the mesh's open border (edges
    of one triangle only).

    Why: the template covers forehead to chin and ear to ear; where the scan stops short (a cut
    forehead, a narrow crop, a hole) the template's points there find their nearest scan point
    on the border and pull the fit towards it, shifting the face box by a centimetre. Dropping
    pairs that end on the border (the usual rule of ICP on partial scans, Turk and Levoy 1994)
    leaves those points pulling on nothing. A mesh that is mostly border (a triangle soup, a
    cloud of random triangles) has no usable border: nothing is marked.
    """
    if len(triangles) == 0 or len(points) == 0:
        return np.zeros(len(points), dtype=bool)
    keys, once = _sides(len(vertices), triangles) if sides is None else sides
    n = np.int64(len(vertices))
    on_border = np.unique(np.concatenate([keys[once] // n, keys[once] % n]))
    used = np.zeros(len(vertices), dtype=bool)
    used[triangles.ravel()] = True  # counted by a mask: sorting every corner costs more
    if len(on_border) == 0 or len(on_border) > BORDER_SOUP * np.count_nonzero(used):
        return np.zeros(len(points), dtype=bool)
    distance, _ = cKDTree(vertices[on_border]).query(
        points, distance_upper_bound=BORDER_REACH * spacing
    )
    return np.isfinite(distance)

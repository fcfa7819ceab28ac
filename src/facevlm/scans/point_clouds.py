"""A single-view point cloud turned into the surface it samples: what depth cameras (Kinect,
RealSense) and phone face-capture apps export as PLY or OBJ points without faces.

Why: the renderer and the face pose need a triangle mesh, and a depth capture is one: every
point was seen from one camera, so the points form a height field over the image plane, and a
2D Delaunay triangulation of the points as the camera saw them is their surface. The camera's
axis is not in the file (a registered capture may be turned any way), but a face seen from one
side is thinner along the line of sight than across it, so the points are triangulated as seen
along the cloud's thinnest principal axis.

A triangle with a 3D edge much longer than the cloud's typical spacing bridges a gap the
camera did not see across (the face's outline against the background, a hole, an occluded
side), and is dropped. A cloud that is not a height field (points all round a head, merged from
several views) loses most of its triangles that way, and is refused with what to do: a surface
reconstruction, which is out of this project's scope.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import POINT_CLOUD, FaceMesh

#: Fewer points than this are no capture of a face (a depth camera gives tens of thousands).
MIN_POINTS = 100
#: Points triangulated at most (a seeded uniform sample of a larger cloud): a depth frame of
#: 640 x 480 holds about 300,000, and a face render needs far fewer.
MAX_POINTS = 120_000
#: A triangle with an edge longer than this many times the cloud's typical spacing (the median
#: distance from a point to its nearest neighbour) bridges a gap. Edges on the steep sides of a
#: face seen from the front are some three times the spacing.
LONG_EDGE = 5.0
#: A height field keeps most of its triangles; a cloud from all round keeps few.
MIN_KEPT = 0.6
#: The note a reader adds to a mesh it triangulated from points.
TRIANGULATED = (
    "no faces: {points} points triangulated as one view's surface, seen along their thinnest "
    "axis ({triangulated} of them used)"
)


def triangulate_depth_cloud(
    points: np.ndarray,
    source: str | Path | None,
    colours: np.ndarray | None = None,
    warnings: list[str] | None = None,
) -> FaceMesh:
    """The surface of a single-view cloud of ``(N, 3)`` points (see the module docstring), with
    its ``colours`` (``(N, 3)`` uint8) kept as vertex colours; the reader's ``warnings`` get a
    note (:data:`TRIANGULATED`) that the surface was made here.

    Raises:
        ScanError: too few points, non-finite coordinates, or not a single view's height
            field; the reason says to triangulate the cloud first.
    """
    from scipy.spatial import Delaunay, QhullError, cKDTree

    points = np.asarray(points, dtype=np.float64)
    if len(points) < MIN_POINTS:
        raise ScanError(source, f"empty mesh: no faces ({len(points)} points: {POINT_CLOUD})")
    if not np.isfinite(points).all():
        bad = int(np.count_nonzero(~np.isfinite(points).all(axis=1)))
        raise ScanError(source, f"{bad} points have NaN or infinite coordinates")
    n_read = len(points)
    if n_read > MAX_POINTS:
        keep = np.sort(np.random.default_rng(0).choice(n_read, MAX_POINTS, replace=False))
        points = points[keep]
        colours = None if colours is None else colours[keep]
    centre = np.median(points, axis=0)
    _, spread, axes = np.linalg.svd(points - centre, full_matrices=False)
    if not spread[1] > 1e-9 * max(spread[0], 1e-300):
        raise ScanError(source, f"degenerate geometry: the points lie on a line ({POINT_CLOUD})")
    try:
        triangles = Delaunay((points - centre) @ axes[:2].T).simplices.astype(np.int64)
    except QhullError as error:
        raise ScanError(source, f"the points cannot be triangulated ({str(error)[:80]})") from None
    corners = points[triangles]
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).max(axis=1)
    spacing = np.median(cKDTree(points).query(points, k=2)[0][:, 1])
    kept = edges <= LONG_EDGE * spacing
    if kept.mean() < MIN_KEPT:
        raise ScanError(
            source,
            f"{n_read} points that are not one view's surface (seen along their thinnest axis, "
            f"{kept.mean():.0%} of the triangles join near points): {POINT_CLOUD}",
        )
    mesh = FaceMesh.from_triangles(points, triangles[kept], vertex_colors=colours, source=source)
    mesh.metadata["point_cloud"] = {"points": n_read, "triangulated": len(points)}
    if warnings is not None:
        warnings.append(TRIANGULATED.format(**mesh.metadata["point_cloud"]))
    return mesh

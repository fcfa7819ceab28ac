"""The scan's own shape in the frame of one fit, read from its full-density vertices, not the
template's points: its nose profile (:func:`_nose_step`, which way up), relief (:func:`_relief`,
a face or a smooth lump) and mirror symmetry about the fitted midline or its own midline near it
(:func:`_symmetry`, a face or the side of a head). They tell apart fits that cover the template
equally well.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from facevlm.render.face_pose.scan_surface import _Scan
from facevlm.render.face_pose.scores import (
    CENTRAL_ABOVE_NOSE_MM,
    CENTRAL_HALF_WIDTH_MM,
    EYES_NOSE_BELOW_NOSE_MM,
    MATCH_ANGLE_DEG,
)
from facevlm.render.face_pose.starts import FRONT_DEPTH_MM
from facevlm.render.face_template import FaceTemplate

#: The nose profile (:func:`_nose_step`): the tip is looked for within this half-width and
#: half-height (mm) of the fitted face centre, the profile along a strip this half-wide
#: through it, in these bands of height above and below the tip (mm): below the tip the
#: profile has stepped back to the upper lip by 10-15 mm, where the bridge above has fallen
#: 5-10 mm; further out (the lips, the nasion) real faces differ too much to tell.
NOSE_WINDOW_MM = (30.0, 90.0)
PROFILE_HALF_WIDTH_MM = 5.0
PROFILE_BANDS_MM = ((4.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 20.0))
#: The profile reads at most this many of the scan's vertices (a millimetre apart on a face
#: and head; more only costs time).
PROFILE_POINTS = 60_000
#: The relief test (:func:`_relief`) looks at the central face from this far below the
#: template's nose tip (the mouth; a chin's curve is smooth) to its top.
RELIEF_BELOW_NOSE_MM = -60.0
#: ... counting one point per square of this side (mm) of the face's area.
RELIEF_CELL_MM = 3.0
#: A point of the central face mirrored across the midline finds the scan within this
#: distance (mm at the template's size) where the face is symmetric (:func:`_symmetry`).
MIRROR_MM = 3.0
MIRROR_COS = float(np.cos(np.radians(MATCH_ANGLE_DEG)))
#: The scan's own mirror plane (:func:`_mirror_plane`) is looked for within this turn (degrees)
#: and this shift (mm at the template's size) of the fitted midline: a fit of a real face may
#: stand 15 degrees off its symmetry plane (a face unlike the template, a broad smile); on the
#: side of a head no plane that near makes its eyes and nose symmetric.
MIRROR_PLANE_DEG = 20.0
MIRROR_PLANE_MM = 12.0
#: ... in at most this many steps (a fit 15 degrees off needs about 15), each fitted to the
#: pairs within ``MIRROR_PAIR_MM`` (plus the point spacing) and to this share of them whose
#: mirror image lands nearest the scan: an expression, a hole or the crop makes the rest lopsided.
MIRROR_PLANE_STEPS = 20
MIRROR_PAIR_MM = 9.0
MIRROR_PLANE_TRIM = 0.8
#: The search stops once a step moves the plane less than this (radians, mm).
MIRROR_PLANE_STILL = 1e-4


def _dense_in_fit(
    scan: _Scan, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The scan's dense points in the template's frame of one fit (mm at the template's size),
    and their normals in that frame; a very dense scan is read every few points (at most
    about :data:`PROFILE_POINTS`)."""
    stride = max(1, len(scan.dense) // PROFILE_POINTS)
    q = (scan.dense[::stride] - shift) @ rotation / scale
    return q, scan.dense_normals[::stride] @ rotation


def _nose_step(
    scan: _Scan, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> tuple[float, np.ndarray | None]:
    """How much further the scan's midline falls away below its nose tip than above it, in
    millimetres at the template's size, in the frame of one fit (positive: upright); and the
    nose tip it measured from, in the template's frame (None where there is none).

    Why: a face's midline profile is not the same either way up. From the tip the nose bridge
    slopes back gradually to the nasion, while below the tip the profile steps back sharply
    under the nose to the upper lip. An oval face crop with shallow features matches the
    template about as well upside down as upright (the forehead lies on the chin, the eye
    sockets on the mouth and cheeks), but its nose still steps back the other way. The test
    looks only at the scan (its most forward point near the fitted midline and the profile
    through it), so it does not depend on how closely the face resembles the template.

    The tip is the most forward point within :data:`NOSE_WINDOW_MM` of the fitted face
    centre, whichever way up (the window is symmetric, so the value of the fit turned upside
    down is the negative of this one); scanner spikes are not in :attr:`_Scan.dense`. Nothing
    to measure (a hole over the nose, a scan that is not a face): 0.
    """
    half_width, half_height = NOSE_WINDOW_MM
    q, normals = _dense_in_fit(scan, scale, rotation, shift)
    facing = normals[:, 2]
    window = (np.abs(q[:, 0]) < half_width) & (np.abs(q[:, 1]) < half_height) & (facing > 0.0)
    q = q[window]
    if len(q) < 20:
        return 0.0, None
    tip = q[np.argmax(q[:, 2])]
    strip = q[np.abs(q[:, 0] - tip[0]) < PROFILE_HALF_WIDTH_MM]
    height = strip[:, 1] - tip[1]
    steps = []
    for low, high in PROFILE_BANDS_MM:
        above = strip[(height >= low) & (height < high), 2]
        below = strip[(-height >= low) & (-height < high), 2]
        if len(above) and len(below):
            steps.append(above.max() - below.max())
    return (float(np.mean(steps)), tip) if steps else (0.0, None)


def _central_front(
    scan: _Scan, template: FaceTemplate, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scan's dense points on the fitted central face (from :data:`RELIEF_BELOW_NOSE_MM`
    below the template's nose tip to its top, facing forward, not the back of a thin crop)
    in the template's frame, their normals, and the indices of one of them per
    :data:`RELIEF_CELL_MM` square of the face's area (a scanner or mesher that packs its
    vertices more densely on smooth cheeks than on the nose must not outweigh the nose)."""
    q, normals = _dense_in_fit(scan, scale, rotation, shift)
    height = q[:, 1] - template.nose_tip[1]
    inside = (
        (np.abs(q[:, 0]) < CENTRAL_HALF_WIDTH_MM)
        & (height > RELIEF_BELOW_NOSE_MM)
        & (height < CENTRAL_ABOVE_NOSE_MM)
        & (normals[:, 2] > 0.0)
    )
    q, normals, height = q[inside], normals[inside], height[inside]
    if len(q) == 0:
        return q, normals, np.zeros(0, dtype=np.int64)
    front = q[:, 2] > q[:, 2].max() - FRONT_DEPTH_MM
    q, normals, height = q[front], normals[front], height[front]
    column = np.floor((q[:, 0] + CENTRAL_HALF_WIDTH_MM) / RELIEF_CELL_MM).astype(np.int64)
    row = np.floor((height - RELIEF_BELOW_NOSE_MM) / RELIEF_CELL_MM).astype(np.int64)
    _, first = np.unique(column * 1_000 + row, return_index=True)
    return q, normals, first


def _relief(
    scan: _Scan,
    template: FaceTemplate,
    scale: float,
    rotation: np.ndarray,
    shift: np.ndarray,
    front: tuple | None = None,
) -> float:
    """How far (mm at the template's size, root mean square) the scan's central face departs
    from the smooth surface that best fits it (a quadric: a ball, a cylinder, a saddle or a
    plane in any position).

    Why: a face carries sharp relief on a smooth base: the nose stands 15-25 mm out of the
    cheeks' surface, the eye sockets and the mouth sink into it. A smooth lump (a fist-sized
    pebble, the end of a blob, a cylinder or a ball) can match the template's coarse shape
    well enough to cover half its eyes, nose and mouth, but it has no such relief. The
    measure is the scan's own shape in the fitted frame, so it does not depend on how closely
    the face resembles the template. ``front``: :func:`_central_front` of the fit, where
    already read.
    """
    front, _, cells = front or _central_front(scan, template, scale, rotation, shift)
    q = front[cells]
    if len(q) < 30:
        return 0.0
    x, y, z = (q / 50.0).T  # well-conditioned
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    smooth, *_ = np.linalg.lstsq(design, z, rcond=None)
    return float(50.0 * np.sqrt(np.mean((z - design @ smooth) ** 2)))


def _symmetry(
    scan: _Scan,
    template: FaceTemplate,
    scale: float,
    rotation: np.ndarray,
    shift: np.ndarray,
    front: tuple | None = None,
    own_plane: bool = False,
) -> float:
    """The share of the scan's eyes and nose that, mirrored across the fitted midline (or, with
    ``own_plane``, across the scan's own midline near it: :func:`_mirror_plane`), lands on the
    scan again (within :data:`MIRROR_MM`); where the mirror image falls over a hole or past the
    scan's edge (no scan point beside it in the face's plane), it does not count. 0.0 when no
    face lies there at all, 1.0 when too little lands beside it to tell.

    Why: a face is mirror-symmetric about its midline, the plane that the classic
    preprocessing of 3D faces finds first. A fit on the side of a whole head (the ear for a
    nose, the head's curve for a cheek) can cover half the template's eyes, nose and mouth,
    with relief and a ridge to show, and its frontal render would show the side of the head;
    about the fitted midline, or any plane near it, such a surface is lopsided
    (docs/what-we-tried/face-pose.md). About the fitted midline a fit also shows whether it
    stands where the face does; about the scan's own midline, whether a face is there at all:
    a real face fitted a few degrees off its symmetry plane (a face unlike the template, a
    broad smile) loses half the first share and none of the second. The eyes and nose only:
    an expression moves the mouth and cheeks to one side. ``front``: as :func:`_relief` takes
    it."""
    front, normals, cells = front or _central_front(scan, template, scale, rotation, shift)
    if len(cells) < 30:  # no face there at all
        return 0.0
    # one point per cell is surface enough: the test is point to plane
    points, normals = front[cells], normals[cells]
    # the eyes and nose: a face's mouth and cheeks may be lopsided by an expression
    upper = points[:, 1] - template.nose_tip[1] > EYES_NOSE_BELOW_NOSE_MM
    points, normals = points[upper], normals[upper]
    if len(points) < 30:
        return 0.0
    tree = cKDTree(points)
    spacing = float(np.median(tree.query(points, k=2)[0][:, 1]))
    midline = (np.array([1.0, 0.0, 0.0]), 0.0)
    plane = _mirror_plane(points, normals, tree, spacing) if own_plane else midline
    mirrored, turned = _reflect(points, plane), _reflect(normals, (plane[0], 0.0))
    beside, _ = cKDTree(points[:, :2]).query(mirrored[:, :2], distance_upper_bound=2 * spacing)
    mirrored, turned = mirrored[np.isfinite(beside)], turned[np.isfinite(beside)]
    if len(mirrored) < 30:  # half a face or less: it cannot tell
        return 1.0
    distance, nearest = tree.query(mirrored)
    across = np.abs(np.einsum("ij,ij->i", mirrored - points[nearest], normals[nearest]))
    agree = np.einsum("ij,ij->i", turned, normals[nearest]) >= MIRROR_COS
    return float(np.mean((across <= MIRROR_MM) & (distance <= MIRROR_MM + spacing) & agree))


def _reflect(points: np.ndarray, plane: tuple[np.ndarray, float]) -> np.ndarray:
    """``points`` mirrored across the plane ``(normal, offset)``: ``normal . x = offset``."""
    normal, offset = plane
    return points - 2.0 * (points @ normal - offset)[:, None] * normal


def _mirror_plane(
    points: np.ndarray, normals: np.ndarray, tree: cKDTree, spacing: float
) -> tuple[np.ndarray, float]:
    """The plane ``(normal, offset)`` about which ``points`` (with ``normals``, in the fit's
    frame, ``tree`` over them, ``spacing`` apart) are most nearly their own mirror image, found
    from the fitted midline ``x = 0`` by point-to-plane steps and kept within
    :data:`MIRROR_PLANE_DEG` and :data:`MIRROR_PLANE_MM` of it.

    Why steps of a plane rather than a search over planes: the mirror image of each point
    pairs with its nearest scan point, and the plane that brings each pair onto the scan's
    tangent plane is a small linear fit (the mirror ICP of symmetry-plane detection), a few
    milliseconds where a grid of candidate planes costs hundreds of searches."""
    normal, offset = np.array([1.0, 0.0, 0.0]), 0.0
    limit = np.cos(np.radians(MIRROR_PLANE_DEG))
    for _ in range(MIRROR_PLANE_STEPS):
        side = points @ normal - offset
        mirrored = points - 2.0 * side[:, None] * normal
        distance, nearest = tree.query(mirrored)
        scan_points, scan_normals = points[nearest], normals[nearest]
        residual = np.einsum("ij,ij->i", mirrored - scan_points, scan_normals)
        pairs = distance <= MIRROR_PAIR_MM + spacing
        if np.count_nonzero(pairs) < 30:
            break
        pairs &= np.abs(residual) <= np.quantile(np.abs(residual[pairs]), MIRROR_PLANE_TRIM)
        # the plane turned by (a, b) about two axes across its normal and moved by c: each
        # pair's residual changes by the derivative of the reflection along its scan normal
        across = np.cross(normal, [0.0, 0.0, 1.0])
        across /= np.linalg.norm(across)
        other = np.cross(normal, across)
        facing = scan_normals @ normal
        slopes = np.stack(
            [
                -2.0 * ((points @ across) * facing + side * (scan_normals @ across)),
                -2.0 * ((points @ other) * facing + side * (scan_normals @ other)),
                2.0 * facing,
            ],
            axis=1,
        )
        (a, b, c), *_ = np.linalg.lstsq(slopes[pairs], -residual[pairs], rcond=None)
        turned = normal + a * across + b * other
        turned /= np.linalg.norm(turned)
        if turned[0] < limit or abs(offset + c) > MIRROR_PLANE_MM:
            break  # beyond where a fit of a face leaves its midline: no face's plane there
        normal, offset = turned, offset + c
        if max(abs(a), abs(b)) < MIRROR_PLANE_STILL and abs(c) < MIRROR_PLANE_STILL:
            break
    return normal, offset

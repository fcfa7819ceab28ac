"""How well a fitted template lies on the scan (package doc, steps 2-4): the share of the
template on the scan (coverage), of its central face, eyes and nose and nose ridge, and of the
scan around the face on the template (precision); one definition of "on the scan" for the
ranking of fits and for the face test.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from facevlm.render.face_pose.scan_surface import _Scan
from facevlm.render.face_template import FaceTemplate

#: A template point lies on the scan when a scan point is this close (mm, at the face's size)
#: and their normals agree within ``MATCH_ANGLE_DEG``.
MATCH_MM = 5.0
MATCH_ANGLE_DEG = 35.0
#: Half-width of the central face (mm): the eyes' outer corners are ~45 mm from the midline.
CENTRAL_HALF_WIDTH_MM = 45.0
#: The central face reaches from this far below the nose tip (the chin) to this far above it.
CENTRAL_BELOW_NOSE_MM = -75.0
CENTRAL_ABOVE_NOSE_MM = 45.0
#: Scan points within this many face radii of the face centre count for the precision score.
PRECISION_RADIUS = 0.8
#: The eyes and nose (:func:`eyes_nose`): the central face above this far below the nose tip,
#: the part an expression moves least.
EYES_NOSE_BELOW_NOSE_MM = -20.0
#: The nose ridge (:func:`nose_ridge`): the template within this half-width (mm) of the
#: midline, from this far below the nose tip to this far above it (the tip, the sides and
#: the bridge).
NOSE_RIDGE_HALF_WIDTH_MM = 12.0
NOSE_RIDGE_MM = (-10.0, 35.0)
#: ... lies on the scan when within this distance (mm at the face's size; a real nose may be
#: larger or smaller than the template's by more than :data:`MATCH_MM`) with agreeing normals;
#: and has scan surface under it when a scan point lies within :data:`NOSE_SURFACE_MM`.
NOSE_RIDGE_MATCH_MM = 12.0
NOSE_SURFACE_MM = 10.0


def _matches(
    scan: _Scan,
    template: FaceTemplate,
    idx: np.ndarray,
    scale: np.ndarray,
    rotation: np.ndarray,
    shift: np.ndarray,
    match_mm: float = MATCH_MM,
) -> np.ndarray:
    """``(B, len(idx))``: does each template point ``idx`` lie on the scan, per transform.

    On the scan means within ``match_mm`` (:data:`MATCH_MM`) of the plane of the nearest scan
    point (not of the point itself: a coarse scan's points are several millimetres apart) and
    no farther from that point than the same plus the scan's point spacing."""
    points, normals = template.points[idx], template.normals[idx]
    moved = scale[:, None, None] * points @ rotation.transpose(0, 2, 1) + shift[:, None, :]
    tolerance = match_mm * scale[:, None]
    reach = float(tolerance.max()) + scan.spacing
    distance, nearest = scan.tree.query(moved.reshape(-1, 3), distance_upper_bound=reach)
    nearest = np.minimum(nearest, len(scan.points) - 1).reshape(len(scale), len(idx))
    distance = distance.reshape(len(scale), len(idx))
    scan_normals = scan.normals[nearest]
    across = np.abs(np.einsum("bmk,bmk->bm", moved - scan.points[nearest], scan_normals))
    turned = normals @ rotation.transpose(0, 2, 1)
    agree = np.einsum("bmk,bmk->bm", turned, scan_normals)
    close = (across <= tolerance) & (distance <= tolerance + scan.spacing)
    return close & (agree >= np.cos(np.radians(MATCH_ANGLE_DEG)))


def _scores(
    scan: _Scan, template: FaceTemplate, idx: np.ndarray, scale, rotation, shift
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage of the template points ``idx`` and of their central part, per transform."""
    matches = _matches(scan, template, idx, scale, rotation, shift)
    middle = np.isin(idx, central(template))
    return matches.mean(axis=1), matches[:, middle].mean(axis=1)


def central(template: FaceTemplate) -> np.ndarray:
    """Indices of the template's central face (eyes, nose, mouth): the part no smooth shape
    (a ball, a cylinder, a plane) can imitate."""
    x, y = template.points[:, 0], template.points[:, 1] - template.nose_tip[1]
    return np.flatnonzero(
        (np.abs(x) < CENTRAL_HALF_WIDTH_MM)
        & (y > CENTRAL_BELOW_NOSE_MM)
        & (y < CENTRAL_ABOVE_NOSE_MM)
    )


def eyes_nose(template: FaceTemplate) -> np.ndarray:
    """Indices of the template's eyes and nose: its central face above
    :data:`EYES_NOSE_BELOW_NOSE_MM` (without the mouth and chin, which a hole, a cut or an
    open mouth may take away)."""
    idx = central(template)
    return idx[template.points[idx, 1] - template.nose_tip[1] > EYES_NOSE_BELOW_NOSE_MM]


def upper_face(template: FaceTemplate) -> np.ndarray:
    """Indices of the template above :data:`EYES_NOSE_BELOW_NOSE_MM` below its nose tip, ear to
    ear: the forehead, eyes, cheekbones and nose, which an expression moves least."""
    below_tip = template.points[:, 1] - template.nose_tip[1]
    return np.flatnonzero(below_tip > EYES_NOSE_BELOW_NOSE_MM)


def nose_ridge(template: FaceTemplate) -> np.ndarray:
    """Indices of the template's nose ridge (:data:`NOSE_RIDGE_MM`)."""
    x, y = template.points[:, 0], template.points[:, 1] - template.nose_tip[1]
    low, high = NOSE_RIDGE_MM
    return np.flatnonzero((np.abs(x) < NOSE_RIDGE_HALF_WIDTH_MM) & (y > low) & (y < high))


def _nose_ridge(
    scan: _Scan, template: FaceTemplate, scale: float, rotation, shift
) -> tuple[float, float]:
    """The share of the template's nose ridge on the scan (within
    :data:`NOSE_RIDGE_MATCH_MM`, normals agreeing), and the share of it not over a hole: with
    scan surface under it (within :data:`NOSE_SURFACE_MM`), or with none there but the nearest
    scan point inside the scan rather than on the rim of a hole or a cut (little where a hole
    or a cut takes the nose).

    Why: a smooth lump can cover half the template's eyes, nose and mouth and carry relief
    of its own (a lumpy blob), but not a nose: a ridge standing out of the face whose steep
    sides turn their normals sideways. A broad lump under the fitted nose matches the tip at
    best, faces' noses match along the sides and the bridge too. A ridge floating over a
    surface that goes on under it is a nose that is not there; one over a hole, whose nearest
    scan points are the hole's rim, may be a nose the scanner lost."""
    idx = nose_ridge(template)
    batched = (np.array([scale]), rotation[None], shift[None])
    on_ridge = _matches(scan, template, idx, *batched, NOSE_RIDGE_MATCH_MM)[0]
    moved = scale * template.points[idx] @ rotation.T + shift
    distance, nearest = scan.tree.query(moved)
    over_hole = (distance > NOSE_SURFACE_MM * scale + scan.spacing) & scan.border[nearest]
    return float(on_ridge.mean()), float(1.0 - over_hole.mean())


def _precision(scan: _Scan, template: FaceTemplate, scale: float, rotation, shift) -> float:
    """Share of the scan points inside the face box that lie on the fitted template."""
    radius = scale * template.face_radius
    inside = np.linalg.norm(scan.points - shift, axis=1) <= PRECISION_RADIUS * radius
    if not inside.any():
        return 0.0
    moved = scale * template.points @ rotation.T + shift
    distance, _ = cKDTree(moved).query(scan.points[inside])
    return float(np.mean(distance <= 2.0 * MATCH_MM * scale))

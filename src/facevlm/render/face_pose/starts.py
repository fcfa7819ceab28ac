"""Where the registration begins (package doc, step 1): the scan's units and the template's
size in them, and the first guesses of where the template goes for each starting rotation,
read from the scan's extent and its most forward points alone.
"""

from __future__ import annotations

import numpy as np

from facevlm.render.face_pose.scan_surface import SCAN_POINTS
from facevlm.render.face_template import FaceTemplate

#: A face (or a head with shoulders) is this many millimetres across (robust extent).
FACE_EXTENT_MM = (80.0, 700.0)
#: ... or, when no unit puts the scan in that range, a face in a scene this many millimetres
#: across at most: a depth camera's capture with the wall behind the sitter, a body scan, a
#: head on a pillow. The face is then a small part of the scan, but its size in millimetres
#: is still known once the unit is.
SCENE_EXTENT_MM = 4000.0
#: A scene's sample of points for the fit holds at most this many (:func:`scan_points`):
#: more found fewer of the heads before a wall of ``benchmarks/canonical_pose.py``.
SCENE_SCAN_POINTS = 12_000
#: Typical robust extent of a face scan; breaks ties between units that both fit.
TYPICAL_EXTENT_MM = 220.0
#: Millimetres per unit of the units a scanner writes.
UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "inch": 25.4}
#: The front of a face in a first guess: what lies this far (mm) behind the most forward point.
FRONT_DEPTH_MM = 70.0


def _scale_starts(points: np.ndarray, template: FaceTemplate) -> list[tuple[float, float]]:
    """``(template scale, mm per unit)`` to start from: scan units per template millimetre."""
    extent = _robust_extent(points)
    if not extent > 0:
        return []
    fitting = _face_units(extent)
    if fitting:
        return [(1.0 / mm, mm) for mm in fitting[:2]]
    # unknown units: the scan is a face crop, or a head and shoulders about twice a face
    template_extent = float(np.ptp(template.points[:, 1]))
    unknown = [(extent / template_extent, 0.0), (0.5 * extent / template_extent, 0.0)]
    # or a face in a wider scene, tried beside the unknown units, since a face crop
    # normalised to two units across could as well be a scene two metres across
    scene = _scene_unit(extent)
    return [(1.0 / scene, scene), *unknown] if scene else unknown


def scan_points(vertices: np.ndarray) -> int:
    """How many of the scan's points the fit samples: :data:`~.scan_surface.SCAN_POINTS`; for a
    face in a wider scene more, in proportion to the scene's area against a head's, up to
    :data:`SCENE_SCAN_POINTS` (a wall behind the sitter would leave the face a few hundred)."""
    # every few vertices tell the scan's extent as well as all of them, for a tenth of the time
    stride = max(1, len(vertices) // SCAN_POINTS)
    extent = _robust_extent(vertices[::stride]) if len(vertices) else 0.0
    if not extent > 0 or _face_units(extent):
        return SCAN_POINTS
    scene = _scene_unit(extent)
    if not scene:
        return SCAN_POINTS
    wider = (extent * scene / FACE_EXTENT_MM[1]) ** 2
    return int(min(SCENE_SCAN_POINTS, SCAN_POINTS * wider))


def _robust_extent(points: np.ndarray) -> float:
    """The scan's size (its largest 1st-99th percentile range), in its units."""
    low, high = np.percentile(points, [1.0, 99.0], axis=0)
    return float(np.max(high - low))


def _face_units(extent: float) -> list[float]:
    """Millimetres per unit of the units that make a scan this wide a face's size
    (:data:`FACE_EXTENT_MM`), the likeliest (nearest :data:`TYPICAL_EXTENT_MM`) first."""
    fitting = [
        mm for mm in UNITS_MM.values() if FACE_EXTENT_MM[0] <= extent * mm <= FACE_EXTENT_MM[1]
    ]
    return sorted(fitting, key=lambda mm: abs(np.log(extent * mm / TYPICAL_EXTENT_MM)))


def _scene_unit(extent: float) -> float:
    """Millimetres per unit of the unit that makes a scan this wide a scene
    (:data:`SCENE_EXTENT_MM`) as small as can be; 0.0 when none does."""
    scene = [mm for mm in UNITS_MM.values() if FACE_EXTENT_MM[1] < extent * mm <= SCENE_EXTENT_MM]
    return min(scene) if scene else 0.0


def _fronts(points: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per starting rotation: the heights of the scan points along its forward axis
    (``(R, M)``) and the indices of the most forward few (``(R, top)``)."""
    height = rotations[:, :, 2] @ points.T  # the template's +z in the scan, per start
    top = max(3, len(points) // 200)
    # the cut by value, then the points above it: a partition of values is several times
    # faster than one of indices; points tied at the cut (duplicates) fall back to the latter
    cut = np.partition(height, len(points) - top, axis=1)[:, len(points) - top]
    _, front = np.nonzero(height >= cut[:, None])
    if len(front) != top * len(rotations):
        return height, np.argpartition(-height, top - 1, axis=1)[:, :top]
    return height, front.reshape(len(rotations), top)


def _placements(
    points: np.ndarray,
    rotations: np.ndarray,
    fronts: tuple[np.ndarray, np.ndarray],
    size: float,
    template: FaceTemplate,
) -> tuple[np.ndarray, np.ndarray]:
    """Two first guesses of where the template goes for each starting rotation (``(R, 3)``
    shifts each): its nose tip on the scan's most forward point in that orientation (right
    for a head or a head with shoulders looking about that way), and its centre under the
    middle of the scan's front (right for a face crop, whose forehead or chin may stick out
    further than its nose when the guess is tilted)."""
    height, front = fronts
    forward = rotations[:, :, 2]
    tips = np.median(points[front], axis=1)  # (R, 3)
    on_tip = tips - size * np.einsum("rij,j->ri", rotations, template.nose_tip)
    support = np.take_along_axis(height, front, axis=1).min(axis=1)  # (R,)
    band = height >= (support - FRONT_DEPTH_MM * size)[:, None]
    middle = (band @ points) / band.sum(axis=1)[:, None]  # (R, 3)
    lift = support - np.einsum("rk,rk->r", middle, forward) - size * template.nose_tip[2]
    under_middle = middle + lift[:, None] * forward
    return on_tip, under_middle

"""The scan's own shape in the frame of one fit, whatever the template looks like: its nose
profile (:func:`_nose_step`, which way up the face is) and its relief (:func:`_relief`, a face
or a smooth lump).

Separate from :mod:`.scores` because these measures read the scan's full-density vertices, not
the template's points: they tell apart fits and shapes that cover the template equally well.
"""

from __future__ import annotations

import numpy as np

from facevlm.render.face_pose.scan_surface import _Scan
from facevlm.render.face_pose.scores import CENTRAL_ABOVE_NOSE_MM, CENTRAL_HALF_WIDTH_MM
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


def _dense_in_fit(
    scan: _Scan, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The scan's dense points in the template's frame of one fit (mm at the template's size),
    and how far each one's normal faces the fitted face's forward axis; a very dense scan is
    read every few points (at most about :data:`PROFILE_POINTS`)."""
    stride = max(1, len(scan.dense) // PROFILE_POINTS)
    q = (scan.dense[::stride] - shift) @ rotation / scale
    return q, scan.dense_normals[::stride] @ rotation[:, 2]


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
    q, facing = _dense_in_fit(scan, scale, rotation, shift)
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


def _relief(
    scan: _Scan, template: FaceTemplate, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> float:
    """How far (mm at the template's size, root mean square) the scan's central face departs
    from the smooth surface that best fits it (a quadric: a ball, a cylinder, a saddle or a
    plane in any position).

    Why: a face carries sharp relief on a smooth base: the nose stands 15-25 mm out of the
    cheeks' surface, the eye sockets and the mouth sink into it. A smooth lump (a fist-sized
    pebble, the end of a blob, a cylinder or a ball) can match the template's coarse shape
    well enough to cover half its eyes, nose and mouth, but it has no such relief. The
    measure is the scan's own shape in the fitted frame, so it does not depend on how closely
    the face resembles the template.
    """
    q, facing = _dense_in_fit(scan, scale, rotation, shift)
    x, height = q[:, 0], q[:, 1] - template.nose_tip[1]
    inside = (
        (np.abs(x) < CENTRAL_HALF_WIDTH_MM)
        & (height > RELIEF_BELOW_NOSE_MM)
        & (height < CENTRAL_ABOVE_NOSE_MM)
        & (facing > 0.0)
    )
    q, height = q[inside], height[inside]
    if len(q) < 30:
        return 0.0
    front = q[:, 2] > q[:, 2].max() - FRONT_DEPTH_MM  # not the back of a thin crop
    q, height = q[front], height[front]
    # one point per cell of the face's area: a scanner (or mesher) that packs its vertices
    # more densely on smooth cheeks than on the nose must not smooth the relief away
    column = np.floor((q[:, 0] + CENTRAL_HALF_WIDTH_MM) / RELIEF_CELL_MM).astype(np.int64)
    row = np.floor((height - RELIEF_BELOW_NOSE_MM) / RELIEF_CELL_MM).astype(np.int64)
    _, first = np.unique(column * 1_000 + row, return_index=True)
    q = q[first]
    if len(q) < 30:
        return 0.0
    x, y, z = (q / 50.0).T  # well-conditioned
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    smooth, *_ = np.linalg.lstsq(design, z, rcond=None)
    return float(50.0 * np.sqrt(np.mean((z - design @ smooth) ** 2)))

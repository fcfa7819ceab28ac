"""The procedural face's surface as a function of the face sheet: the sheet wrapped around an
elliptic cylinder (x = W(y)·sin θ, z = D·(cos θ − 1)) and raised by a *relief* (brow ridge, eye
sockets and eyeballs, nose, cheeks, lips, chin), step 2 of :mod:`.head`'s construction.

Separate from the mesh's grid, topology and patches (:mod:`.head`) because it is a smooth
function of an identity and sheet points alone: any sheet point can be placed on the face.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from facevlm.synthetic.procedural import shapes
from facevlm.synthetic.procedural.identity import Identity
from facevlm.synthetic.procedural.shapes import gauss, smoothstep

#: Angle (radians) around the head at the sheet's lateral edge: the mask reaches ~78° back.
THETA_MAX = 1.36


def _half_width_profile(identity: Identity) -> PchipInterpolator:
    """Head half-width W(py): narrow temples, widest at the cheekbones, tapering jaw."""
    w = identity.face_half_width
    jaw = identity.jaw_width
    knots_y = [
        identity.chin_y - 10.0,
        identity.chin_y + 6.0,
        identity.mouth_y - 14.0,
        identity.mouth_y + 8.0,
        identity.eye_y - 14.0,
        identity.eye_y + 12.0,
        identity.top_y - 20.0,
        identity.top_y + 10.0,
    ]
    knots_w = [
        0.70 * jaw * w,
        0.80 * jaw * w,
        0.96 * jaw * w,
        (0.45 + 0.55 * jaw) * w,
        1.00 * w,
        0.97 * w,
        0.92 * w,
        0.88 * w,
    ]
    return PchipInterpolator(knots_y, knots_w)


def _vertical_profile(identity: Identity, py: np.ndarray) -> np.ndarray:
    """Depth change along the midline: the forehead slopes back, the chin recedes."""
    forehead = -0.0032 * np.clip(py - (identity.brow_y + 6.0), 0.0, None) ** 2
    chin = -0.006 * np.clip((identity.mouth_y - 18.0) - py, 0.0, None) ** 2
    return forehead + chin


def relief(identity: Identity, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Height (z, mm) of the facial features above the base cylinder at sheet points."""
    idn = identity
    z = _vertical_profile(idn, py)
    ax = np.abs(px)
    # brow ridge and glabella
    z += idn.brow_ridge * gauss(ax, py, idn.eye_x - 4.0, idn.brow_y - 3.0, 17.0, 6.0)
    z += 1.5 * gauss(px, py, 0.0, idn.brow_y - 3.0, 8.0, 6.0)
    # eye sockets, eyeballs and lids
    z -= 7.5 * gauss(ax, py, idn.eye_x, idn.eye_y + 1.0, 15.0, 10.0)
    z += 4.5 * gauss(ax, py, idn.eye_x, idn.eye_y, 10.5, 6.5)
    # temples and cheekbones, cheeks
    z -= 3.0 * gauss(ax, py, idn.eye_x + 30.0, idn.eye_y + 14.0, 10.0, 12.0)
    z += 3.0 * gauss(ax, py, idn.eye_x + 15.0, idn.eye_y - 13.0, 12.0, 8.0)
    z += 5.0 * idn.cheek_fullness * gauss(ax, py, idn.eye_x + 6.0, idn.eye_y - 30.0, 17.0, 15.0)
    # nose: bridge rising from the nasion to the tip, falling to the subnasale
    span = idn.nasion_y - idn.tip_y
    t = (idn.nasion_y - py) / span
    along = np.where(
        t < 0.0,
        0.30 * np.exp(-((t / 0.35) ** 2)),
        np.where(t <= 1.0, 0.30 + 0.70 * np.clip(t, 0, 1) ** 1.3, 0.0),
    )
    below = (py < idn.tip_y) * (1.0 - smoothstep(idn.tip_y, idn.subnasale_y - 1.0, py))
    along = np.where(t > 1.0, below, along)
    sx = 5.0 + 3.5 * np.clip(t, 0.0, 1.0)
    z += idn.nose_height * along * np.exp(-0.5 * (px / sx) ** 2)
    z += 0.10 * idn.nose_height * gauss(px, py, 0.0, idn.tip_y - 1.0, 6.0, 5.0)
    (alx, aly) = shapes.alar_points(idn)[1]
    z += 0.30 * idn.nose_height * gauss(ax, py, alx, aly, 5.5, 5.0)
    # mouth: muzzle, lips, philtrum, the lip-line crease, the sulcus under the lower lip, chin
    z += 7.0 * gauss(px, py, 0.0, idn.mouth_y + 2.0, 30.0, 22.0)
    z += 3.0 * gauss(
        px,
        py,
        0.0,
        idn.mouth_y + 0.5 * idn.upper_lip,
        0.75 * idn.mouth_half_width,
        0.55 * idn.upper_lip,
    )
    z += 3.5 * gauss(
        px,
        py,
        0.0,
        idn.mouth_y - 0.5 * idn.lower_lip,
        0.65 * idn.mouth_half_width,
        0.5 * idn.lower_lip,
    )
    z -= 0.8 * gauss(px, py, 0.0, 0.5 * (idn.mouth_y + idn.upper_lip + idn.subnasale_y), 2.5, 5.0)
    crease = np.exp(-0.5 * ((py - idn.mouth_y) / 1.3) ** 2) * (
        1.0 - smoothstep(idn.mouth_half_width, idn.mouth_half_width + 6.0, ax)
    )
    z -= 1.2 * crease
    z -= 2.5 * gauss(px, py, 0.0, idn.mouth_y - idn.lower_lip - 5.0, 14.0, 4.0)
    z += idn.chin_height * gauss(px, py, 0.0, idn.chin_y + 13.0, 16.0, 10.0)
    # nasolabial folds deepen with age
    depth = 0.4 + 1.6 * np.clip((idn.age - 25) / 40.0, 0.0, 1.0)
    for side in (-1, 1):
        p0, p1 = shapes.nasolabial_segment(idn, side)
        dist, _ = shapes.segment_distance(px, py, p0, p1)
        z -= depth * np.exp(-0.5 * (dist / 2.2) ** 2)
    return z


def sheet_to_xyz(identity: Identity, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Map sheet points onto the face surface: ``(N, 3)`` millimetres."""
    px = np.asarray(px, dtype=np.float64)
    py = np.asarray(py, dtype=np.float64)
    theta = px / identity.sheet_half_width * THETA_MAX
    width = _half_width_profile(identity)(py)
    depth = identity.head_depth
    x = width * np.sin(theta)
    z = depth * (np.cos(theta) - 1.0) + relief(identity, px, py)
    return np.stack([x, py, z], axis=-1)

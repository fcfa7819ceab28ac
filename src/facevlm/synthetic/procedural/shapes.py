"""Outlines of the facial features on the face sheet: eyes, brows, lips, nostrils.

Why one module for them: the texture paints these outlines, the 83 landmarks sit on them and the
action units move the skin around them. If each computed its own idea of where the upper lid or
the lip edge is, the landmarks would drift off the painted features. Every function takes sheet
millimetres (see :mod:`~facevlm.synthetic.procedural.identity`) and works on arrays.
"""

from __future__ import annotations

import numpy as np

from facevlm.synthetic.procedural.identity import Identity

#: Names of the patches that sit behind openings of the skin, in mesh order after the skin.
INNER_PARTS: tuple[str, ...] = ("mouth", "eye_left", "eye_right")


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 below ``edge0``, 1 above ``edge1``, a C¹ ramp between (edges may be reversed)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def gauss(px: np.ndarray, py: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    """Anisotropic Gaussian bump of height 1 centred at ``(cx, cy)``."""
    return np.exp(-0.5 * (((px - cx) / sx) ** 2 + ((py - cy) / sy) ** 2))


def inner_rects(identity: Identity) -> dict[str, tuple[float, float, float, float]]:
    """Sheet rectangles ``(x0, y0, x1, y1)`` of the patches behind the skin's openings.

    The mouth cavity reaches well below the slit (the jaw can drop 25 mm) and past the corners
    by more than a lip stretcher pulls them (seen through the corners of a stretched, parted
    mouth there must be cavity, not background); each eyeball reaches past its opening by more
    than a lid can move.
    """
    w = identity.mouth_half_width + 15.0
    rects = {"mouth": (-w, identity.mouth_y - 36.0, w, identity.mouth_y + 11.0)}
    for name, side in (("eye_left", -1), ("eye_right", 1)):
        cx, cy = eye_centre(identity, side)
        ew = identity.eye_half_width + 3.0
        rects[name] = (
            cx - ew,
            cy - 2.2 * identity.eye_half_height,
            cx + ew,
            cy + 2.4 * identity.eye_half_height + 2.0,
        )
    return rects


# ---------------------------------------------------------------------------------- eyes
def eye_centre(identity: Identity, side: int) -> tuple[float, float]:
    """Centre of the eye opening; ``side`` −1 image left (subject's right), +1 image right."""
    return side * identity.eye_x, identity.eye_y


def eye_lids(identity: Identity, side: int, px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heights of the upper and lower lid margins at ``px`` (NaN outside the eye's width).

    The opening is an almond: the upper lid arches higher than the lower one, its highest point
    a little toward the nose, and the outer corner sits slightly higher than the inner one.
    """
    cx, cy = eye_centre(identity, side)
    w = identity.eye_half_width
    dx = (np.asarray(px, dtype=np.float64) - cx) * side  # positive toward the temple
    t = np.clip(dx / w, -1.0, 1.0)
    inside = np.abs(dx) <= w
    tilt = 1.2 * t
    base = np.sqrt(np.clip(1.0 - t**2, 0.0, 1.0))
    upper = cy + tilt + 1.15 * identity.eye_half_height * base**0.85 * (1.0 - 0.12 * t)
    lower = cy + tilt - 0.80 * identity.eye_half_height * base**1.1 * (1.0 + 0.10 * t)
    return np.where(inside, upper, np.nan), np.where(inside, lower, np.nan)


def iris_radius(identity: Identity) -> float:
    """Visible iris radius: a little larger than the half-height of the opening."""
    return 1.12 * identity.eye_half_height


# ---------------------------------------------------------------------------------- brows
def brow_span(identity: Identity, side: int) -> tuple[float, float]:
    """Inner and outer ends of a brow, as signed ``px``."""
    return side * (identity.eye_x - 14.0), side * (identity.eye_x + 19.0)


def brow_line(identity: Identity, side: int, px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre height and half-thickness of the brow at ``px`` (thickness 0 outside the brow)."""
    inner, outer = brow_span(identity, side)
    t = (np.asarray(px, dtype=np.float64) - inner) / (outer - inner)  # 0 inner … 1 outer
    centre = (
        identity.brow_y
        + identity.brow_arch * np.sin(np.pi * np.clip(t, 0, 1) ** 0.8)
        - 2.0 * np.clip(t - 0.7, 0, None)
    )
    half = 0.5 * identity.brow_thickness * (1.0 - 0.55 * np.clip(t, 0, 1))
    half = np.where((t >= -0.02) & (t <= 1.02), half, 0.0)
    return centre, half


# ---------------------------------------------------------------------------------- lips
def lip_edges(
    identity: Identity, px: np.ndarray, half_width: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Outer edges of the red upper and lower lip at ``px`` (equal to ``mouth_y`` at corners).

    The upper edge has a Cupid's bow: two peaks either side of a dip on the midline.
    """
    w = identity.mouth_half_width if half_width is None else half_width
    x = np.asarray(px, dtype=np.float64)
    t = np.clip(np.abs(x) / w, 0.0, 1.0)
    body = np.sqrt(np.clip(1.0 - t**2, 0.0, 1.0))
    bow = 1.0 - 0.22 * np.exp(-((x / 3.0) ** 2)) + 0.10 * np.exp(-(((np.abs(x) - 6.0) / 4.0) ** 2))
    upper = identity.mouth_y + identity.upper_lip * body**0.7 * bow
    lower = identity.mouth_y - identity.lower_lip * body**0.9
    return upper, lower


# ---------------------------------------------------------------------------------- nose
def nostril_centres(identity: Identity) -> list[tuple[float, float]]:
    """Centres of the two nostrils, seen from the front just above the upper lip."""
    y = identity.subnasale_y + 2.5
    x = 0.42 * identity.nose_half_width
    return [(-x, y), (x, y)]


def alar_points(identity: Identity) -> list[tuple[float, float]]:
    """The nostril wings (alae), the widest points of the nose."""
    y = identity.subnasale_y + 4.5
    x = identity.nose_half_width - 4.0
    return [(-x, y), (x, y)]


def segment_distance(
    px: np.ndarray, py: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from points to the segment ``p0``–``p1`` and the position (0–1) along it."""
    ax, ay = p0
    dx, dy = p1[0] - ax, p1[1] - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(px - ax - t * dx, py - ay - t * dy), t


def nasolabial_segment(
    identity: Identity, side: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The nasolabial fold: from beside the nostril wing down to just outside the mouth corner."""
    (ax, ay) = alar_points(identity)[0 if side < 0 else 1]
    start = (ax + side * 4.0, ay + 1.0)
    end = (side * (identity.mouth_half_width + 5.0), identity.mouth_y - 7.0)
    return start, end

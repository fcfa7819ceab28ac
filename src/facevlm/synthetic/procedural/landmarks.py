"""The 83 BU-3DFE landmarks (and Bosphorus' named landmarks) of a synthetic face.

Why vertex indices: a BU-3DFE ``.bnd`` line is ``<vertex index> x y z`` — landmarks *are* mesh
vertices — so landmarks placed on the neutral mesh follow the skin through every expression and
every frame of a sequence for free.

Groups follow BU-3DFE: eye 0–7, eye 8–15, brow 16–25, brow 26–35, nose 36–47 (bridge sides 36–38
and 39–41, nostril chain 42–47), outer mouth 48–59, inner mouth 60–67, face contour 68–82. The
"left" eye/brow (0–7, 16–25) is the one on the image left of a frontal view (x < 0, the subject's
right), as in menpo's BU-3DFE markup. The order *within* a group (loops starting at the inner
corner of an eye, the inner end of a brow, the image-left mouth corner; the contour from image
left over the chin to image right) is our choice; the real files' order is not documented.
"""

from __future__ import annotations

import numpy as np

from facevlm.synthetic.procedural import shapes
from facevlm.synthetic.procedural.identity import Identity

#: Index ranges of the BU-3DFE landmark groups.
LANDMARK_GROUPS: dict[str, range] = {
    "left_eye": range(0, 8),
    "right_eye": range(8, 16),
    "left_brow": range(16, 26),
    "right_brow": range(26, 36),
    "nose": range(36, 48),
    "mouth": range(48, 68),
    "contour": range(68, 83),
}
N_LANDMARKS = 83

#: Bosphorus ``.lm3`` labels we can place (the ear lobes are outside a face mask, so missing,
#: as occluded landmarks are in the real files).
BOSPHORUS_LABELS: tuple[str, ...] = (
    "Outer left eyebrow",
    "Middle left eyebrow",
    "Inner left eyebrow",
    "Inner right eyebrow",
    "Middle right eyebrow",
    "Outer right eyebrow",
    "Outer left eye corner",
    "Inner left eye corner",
    "Inner right eye corner",
    "Outer right eye corner",
    "Nose saddle left",
    "Nose saddle right",
    "Left nose peak",
    "Nose tip",
    "Right nose peak",
    "Left mouth corner",
    "Upper lip outer middle",
    "Right mouth corner",
    "Upper lip inner middle",
    "Lower lip inner middle",
    "Lower lip outer middle",
    "Chin middle",
)


def _eye_points(idn: Identity, side: int) -> list[tuple[float, float]]:
    cx, _ = shapes.eye_centre(idn, side)
    w = idn.eye_half_width
    # dx toward the temple: inner corner, over the top, outer corner, back along the bottom
    upper_dx = [-w, -0.5 * w, 0.0, 0.5 * w, w]
    lower_dx = [0.5 * w, 0.0, -0.5 * w]
    pts = []
    for dx in upper_dx:
        x = cx + side * dx * (0.97 if abs(dx) == w else 1.0)
        up, low = shapes.eye_lids(idn, side, np.array([x]))
        pts.append((x, float(up[0]) if abs(dx) < w else 0.5 * float(up[0] + low[0])))
    for dx in lower_dx:
        x = cx + side * dx
        _, low = shapes.eye_lids(idn, side, np.array([x]))
        pts.append((x, float(low[0])))
    return pts


def _brow_points(idn: Identity, side: int) -> list[tuple[float, float]]:
    inner, outer = shapes.brow_span(idn, side)
    ts = np.linspace(0.0, 1.0, 5)
    xs = inner + ts * (outer - inner)
    centre, half = shapes.brow_line(idn, side, xs)
    upper = [(float(x), float(c + h)) for x, c, h in zip(xs, centre, half, strict=True)]
    lower = [(float(x), float(c - h)) for x, c, h in zip(xs, centre, half, strict=True)]
    return upper + lower[::-1]


def _nose_points(idn: Identity) -> list[tuple[float, float]]:
    top, tip = idn.nasion_y - 6.0, idn.tip_y + 3.0
    bridge = [(-x, y) for x, y in ((6.0, top), (7.5, 0.5 * (top + tip)), (9.5, tip))]
    bridge += [(x, y) for x, y in ((6.0, top), (7.5, 0.5 * (top + tip)), (9.5, tip))]
    (alx, aly) = shapes.alar_points(idn)[1]
    (nx, ny) = shapes.nostril_centres(idn)[1]
    chain = [(-alx, aly), (-nx, ny - 1.5), (-2.5, idn.subnasale_y), (2.5, idn.subnasale_y)]
    chain += [(nx, ny - 1.5), (alx, aly)]
    return bridge + chain


def _mouth_points(idn: Identity) -> tuple[list[tuple[float, float]], list[bool]]:
    w = idn.mouth_half_width
    fr = np.array([-0.6, -0.25, 0.0, 0.25, 0.6]) * w
    upper, lower = shapes.lip_edges(idn, fr)
    outer = [(-w, idn.mouth_y)]
    outer += [(float(x), float(y)) for x, y in zip(fr, upper, strict=True)]
    outer += [(w, idn.mouth_y)]
    outer += [(float(x), float(y)) for x, y in zip(fr[::-1], lower[::-1], strict=True)]
    inner_x = np.array([-0.4, 0.0, 0.4]) * w
    inner = [(-0.85 * w, idn.mouth_y)] + [(float(x), idn.mouth_y) for x in inner_x]
    inner += [(0.85 * w, idn.mouth_y)] + [(float(x), idn.mouth_y) for x in inner_x[::-1]]
    lower_flags = [False] * 12 + [False] * 5 + [True] * 3
    return outer + inner, lower_flags


def _contour_points(idn: Identity) -> list[tuple[float, float]]:
    """15 points on the mask outline, image left at eye height, over the chin, image right."""
    y_mid = idn.eye_y - 12.0
    ys = np.linspace(idn.eye_y - 4.0, idn.chin_y + 8.0, 8)[:-1]
    pts = []
    for y in ys:
        b = (y_mid - y) / (y_mid - idn.chin_y) if y < y_mid else 0.0
        a = (max(1.0 - b**2.2, 0.0)) ** (1 / 2.4)
        pts.append((-0.97 * a * idn.sheet_half_width, float(y)))
    left = pts
    right = [(-x, y) for x, y in left[::-1]]
    return left + [(0.0, idn.chin_y + 1.0)] + right


def landmark_sheet_points(identity: Identity) -> tuple[np.ndarray, np.ndarray]:
    """Sheet positions ``(83, 2)`` of the landmarks and which must sit on the lower lip."""
    pts = _eye_points(identity, -1) + _eye_points(identity, 1)
    pts += _brow_points(identity, -1) + _brow_points(identity, 1)
    pts += _nose_points(identity)
    mouth, mouth_lower = _mouth_points(identity)
    pts += mouth
    pts += _contour_points(identity)
    lower = np.zeros(len(pts), dtype=bool)
    lower[48:68] = mouth_lower
    assert len(pts) == N_LANDMARKS
    return np.asarray(pts, dtype=np.float64), lower


def _nearest(sheet: np.ndarray, candidates: np.ndarray, points: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(candidates)
    d = ((sheet[idx, None, :] - points[None, :, :]) ** 2).sum(-1)
    return idx[np.argmin(d, axis=0)]


def _slit_lower_copies(identity: Identity, sheet: np.ndarray, lower: np.ndarray) -> np.ndarray:
    return lower & (sheet[:, 1] >= identity.mouth_y - 1e-9)


def landmark_vertices(
    identity: Identity, sheet: np.ndarray, lower: np.ndarray, inner: np.ndarray
) -> np.ndarray:
    """Vertex index of each of the 83 landmarks: the nearest vertex on the sheet not already
    taken by an earlier landmark (on coarse meshes two points would otherwise share one).

    Inner lower-lip points pick the lower copies of the cut mouth row, everything else avoids
    them, so an opening mouth separates the upper and lower inner-lip landmarks.
    """
    points, on_lower = landmark_sheet_points(identity)
    lower_copy = _slit_lower_copies(identity, sheet, lower)
    pools = {False: np.flatnonzero(~inner & ~lower_copy), True: np.flatnonzero(~inner & lower)}
    taken: set[int] = set()
    result = np.empty(N_LANDMARKS, dtype=np.int64)
    for k, (point, low) in enumerate(zip(points, on_lower, strict=True)):
        pool = pools[bool(low)]
        d = ((sheet[pool] - point) ** 2).sum(-1)
        for i in pool[np.argsort(d, kind="stable")[:16]]:
            if int(i) not in taken:
                break
        result[k] = i
        taken.add(int(i))
    return result


def bosphorus_vertices(
    identity: Identity, sheet: np.ndarray, lower: np.ndarray, inner: np.ndarray
) -> dict[str, int]:
    """Vertex index of each Bosphorus landmark label in :data:`BOSPHORUS_LABELS`."""
    idn = identity
    brow = {s: _brow_points(idn, s) for s in (-1, 1)}
    eye = {s: _eye_points(idn, s) for s in (-1, 1)}
    (alx, aly) = shapes.alar_points(idn)[1]
    w = idn.mouth_half_width
    up, low = shapes.lip_edges(idn, np.array([0.0]))

    def brow_mid(side: int, k: int) -> tuple[float, float]:
        """Centre of the brow at its k-th upper point (0 inner, 2 middle, 4 outer)."""
        pts = brow[side]
        return pts[k][0], 0.5 * (pts[k][1] + pts[9 - k][1])

    named = {
        "Outer left eyebrow": brow_mid(-1, 4),
        "Middle left eyebrow": brow_mid(-1, 2),
        "Inner left eyebrow": brow_mid(-1, 0),
        "Inner right eyebrow": brow_mid(1, 0),
        "Middle right eyebrow": brow_mid(1, 2),
        "Outer right eyebrow": brow_mid(1, 4),
        "Outer left eye corner": eye[-1][4],
        "Inner left eye corner": eye[-1][0],
        "Inner right eye corner": eye[1][0],
        "Outer right eye corner": eye[1][4],
        "Nose saddle left": (-9.0, idn.nasion_y - 4.0),
        "Nose saddle right": (9.0, idn.nasion_y - 4.0),
        "Left nose peak": (-alx, aly),
        "Nose tip": (0.0, idn.tip_y),
        "Right nose peak": (alx, aly),
        "Left mouth corner": (-w, idn.mouth_y),
        "Upper lip outer middle": (0.0, float(up[0])),
        "Right mouth corner": (w, idn.mouth_y),
        "Upper lip inner middle": (0.0, idn.mouth_y),
        "Lower lip inner middle": (0.0, idn.mouth_y),
        "Lower lip outer middle": (0.0, float(low[0])),
        "Chin middle": (0.0, idn.chin_y + 12.0),
    }
    lower_copy = _slit_lower_copies(idn, sheet, lower)
    out: dict[str, int] = {}
    for label in BOSPHORUS_LABELS:
        point = np.asarray([named[label]], dtype=np.float64)
        cand = ~inner & (lower if label == "Lower lip inner middle" else ~lower_copy)
        out[label] = int(_nearest(sheet, cand, point)[0])
    return out

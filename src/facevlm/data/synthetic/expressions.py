"""FACS-style action units as displacement fields, and the six basic emotions as AU recipes.

Why action units rather than six hand-made shapes: an emotion is a *combination* of muscle
actions (happiness = cheek raiser AU6 + lip corner puller AU12 + lips part AU25), and the same
actions, partial, one-sided or at low intensity, make the micro-expressions of 4DME and the AU
scans of Bosphorus and the AU labels of BP4D. One set of fields serves all of them.

Each field is a smooth, localised displacement (mm) of the skin at activation 1, built on the
face sheet around the subject's own features, so it adapts to every identity. Fields that open
the mouth move only one side of the lip cut (:attr:`SyntheticHead.lower`), so the lips part for
real; fields continuous across the cut (AU12, AU17 …) keep a closed mouth closed. The jaw drop
and the mouth stretch move the mandible as a bone, rotating about the jaw joints, and blend that
rigid motion into the skin: the chin and the whole jaw line go down and back together while the
lower cheeks stretch. The eyelids slide over still eyeballs. Activations are ``(left, right)``
pairs so an action can be one-sided.

Intensities: BU-3DFE's levels 1–4 scale the recipe by :data:`INTENSITY_SCALE`; displacement is
linear in the scale, so a higher level always moves the face further from neutral.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from facevlm.data.labels import BASIC_EMOTIONS, NEUTRAL
from facevlm.data.synthetic import shapes
from facevlm.data.synthetic.head import SyntheticHead
from facevlm.data.synthetic.shapes import gauss, smoothstep

#: The action units we can animate, with their FACS names.
ACTION_UNITS: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    24: "lip presser",
    25: "lips part",
    26: "jaw drop",
    27: "mouth stretch",
    43: "eyes closed",
}

#: Scale of the recipe at each BU-3DFE intensity level (0 = neutral).
INTENSITY_SCALE: dict[int, float] = {0: 0.0, 1: 0.4, 2: 0.6, 3: 0.8, 4: 1.0}

#: Prototype AU weights of each emotion at full intensity (after EMFACS, exaggerated a little
#: so that frontal renders of the six are easy to tell apart).
EMOTION_RECIPES: dict[str, dict[int, float]] = {
    "anger": {4: 1.2, 5: 0.5, 7: 1.0, 23: 1.0, 24: 0.8},
    "disgust": {6: 0.3, 9: 1.0, 10: 1.0, 15: 0.4, 17: 0.5},
    "fear": {1: 1.0, 2: 0.5, 4: 0.8, 5: 1.0, 20: 1.0, 25: 1.0, 26: 0.6},
    "happiness": {6: 1.0, 12: 1.0, 25: 0.9, 26: 0.25},
    "sadness": {1: 1.0, 4: 0.5, 15: 1.0, 17: 0.8, 43: 0.2},
    "surprise": {1: 1.0, 2: 1.0, 5: 1.0, 25: 0.6, 26: 1.0, 27: 0.6},
}

#: AUs a subject may leave out of a recipe, with the probability that they do.
OPTIONAL_AUS: dict[str, dict[int, float]] = {
    "anger": {5: 0.4, 24: 0.4},
    "disgust": {6: 0.5, 15: 0.3, 17: 0.3},
    "fear": {2: 0.3, 26: 0.3},
    "happiness": {25: 0.2, 26: 0.5},
    "sadness": {4: 0.3, 17: 0.3, 43: 0.5},
    "surprise": {27: 0.5},
}

#: Other ways people show each emotion (EMFACS lists several AU combinations per emotion:
#: closed- and open-mouth anger, a closed smile and a laugh, nose- or lip-led disgust ...).
#: A subject makes one of them, drawn with these odds; the first is the prototype.
#: Anger and disgust keep to EMFACS's own combinations: none of its anger ones has the nose
#: wrinkler (AU9) and none of its disgust ones the brow lowerer, lid tightener or lip presser
#: (AU4, 7, 24; AU9 itself pulls the inner brows down a little). An earlier nose-led disgust
#: of 4+7+9+17+24 was closed-mouth anger (4+7+17+24) plus a nose wrinkle: at 64 px the models
#: took it for anger (disgust recall 0.56, 0.31 of it called anger).
EMOTION_VARIANTS: dict[str, tuple[tuple[float, dict[int, float]], ...]] = {
    "anger": (
        (0.5, EMOTION_RECIPES["anger"]),
        (0.3, {4: 1.2, 5: 0.6, 7: 0.8, 10: 0.7, 25: 0.7, 26: 0.3}),
        (0.2, {4: 1.3, 7: 1.2, 17: 0.8, 24: 1.0}),
    ),
    "disgust": (
        (0.5, EMOTION_RECIPES["disgust"]),
        (0.3, {9: 1.3, 15: 0.3, 17: 0.7}),
        (0.2, {6: 0.3, 10: 1.2, 15: 0.6, 25: 0.6, 26: 0.2}),
    ),
    "fear": (
        (0.5, EMOTION_RECIPES["fear"]),
        (0.3, {1: 1.0, 2: 0.8, 4: 0.6, 5: 1.1, 7: 0.3, 20: 1.1, 25: 0.8}),
        (0.2, {1: 0.9, 4: 1.0, 5: 0.9, 20: 0.8, 25: 1.0, 26: 0.9}),
    ),
    "happiness": (
        (0.5, EMOTION_RECIPES["happiness"]),
        (0.3, {6: 0.8, 12: 1.1, 14: 0.2}),
        (0.2, {6: 1.2, 7: 0.3, 12: 1.1, 25: 1.0, 26: 0.6}),
    ),
    "sadness": (
        (0.5, EMOTION_RECIPES["sadness"]),
        (0.3, {1: 0.8, 4: 0.8, 7: 0.3, 15: 0.9, 17: 0.6}),
        (0.2, {1: 0.6, 6: 0.4, 15: 1.1, 17: 1.0, 43: 0.3}),
    ),
    "surprise": (
        (0.5, EMOTION_RECIPES["surprise"]),
        (0.3, {1: 1.1, 2: 1.1, 5: 1.2, 25: 0.5, 26: 0.7}),
        (0.2, {1: 0.9, 2: 0.8, 5: 0.8, 25: 1.0, 26: 1.1, 27: 0.9}),
    ),
}

#: Soft-tissue bulge (z, mm) per unit of in-plane compression of the skin (see
#: :func:`tissue_bulge`), for a face of average fullness.
BULGE_PER_COMPRESSION = 6.0
#: Step (mm) of the finite differences that measure how a field compresses the skin.
_STRAIN_STEP = 1.5

#: Jaw rotation (radians) of the jaw drop and of the mouth stretch at activation 1: the lower
#: lip of an average face drops about 13 and 18 mm.
JAW_DROP_ANGLE = 0.15
MOUTH_STRETCH_ANGLE = 0.2
#: How far the condyles glide forward and down the articular eminence per radian of opening
#: (mm): the chin swings down and back, but less far back than a pure hinge would take it.
_CONDYLE_GLIDE = (20.0, 6.0)
#: Action units that move the mandible, one bone: a lopsided activation tilts the jaw across the
#: whole face instead of shearing the chin along the midline.
_JAW_AUS = frozenset({26, 27})

#: ``AU -> (left, right)`` activation; left is the image left (x < 0).
Activation = dict[int, tuple[float, float]]


# ---------------------------------------------------------------------------------- helpers
class _Ctx:
    """Sheet coordinates and masks of a head, with the field helpers that use them."""

    def __init__(self, head: SyntheticHead, shift: tuple[float, float] = (0.0, 0.0)):
        self.idn = head.identity
        self.px = head.sheet[:, 0] + shift[0]
        self.py = head.sheet[:, 1] + shift[1]
        # the neutral positions stay unshifted: a field evaluated on a shifted sheet then
        # differs only where its weights do, so a rigid motion (the jaw's) strains the skin
        # only where the weight blends it into the still face, never where it is rigid
        self.xyz = head.mesh.vertices
        self.ax = np.abs(self.px)
        # a smooth sign: a field pulling both halves toward (or away from) the midline bunches
        # (or stretches) the skin there continuously, never in a one-vertex step
        self.sgn = np.tanh(self.px / 2.5)
        # how deeply this face creases: wrinkles and folds deepen with age
        self.crease = 0.6 + 0.9 * float(np.clip((self.idn.age - 20) / 45.0, 0.0, 1.0))
        self.skin = head.skin
        self.lower = head.lower & self.skin
        self.upper = ~head.lower & self.skin
        self.n = len(self.px)

    def vec(self, weight: np.ndarray, dx=0.0, dy=0.0, dz=0.0) -> np.ndarray:
        """Displacement ``weight * (dx, dy, dz)``; ``dx`` may be an array (e.g. outward)."""
        out = np.zeros((self.n, 3))
        out[:, 0] = weight * dx
        out[:, 1] = weight * dy
        out[:, 2] = weight * dz
        return out

    def lens_up(self, widen: float, sigma: float, flat: float = 2.0) -> np.ndarray:
        """Weight of the upper lip region: 1 at the slit centre, 0 at the corners, fading up."""
        w = self.idn.mouth_half_width + widen * np.clip(self.py - self.idn.mouth_y, 0, None)
        lateral = np.clip(1.0 - np.abs(self.px / w) ** flat, 0.0, None)
        return lateral * np.exp(-0.5 * ((self.py - self.idn.mouth_y) / sigma) ** 2) * self.upper

    def lip_parting(self, widen: float = 0.4, fullness: float = 1.5) -> np.ndarray:
        """How far the lips part at each point, 1 in the middle of the slit.

        Along the slit it follows ``(1 - t²)^1.5 (1 + fullness t²)``, ``t = x / half-width``: a
        full oval in the middle whose ends taper into the corners, where the lips meet. The
        weight and its slope both vanish at the corners and beside them, so the skin around a
        commissure stretches without a crease however a smile or a stretcher pulls it. Off the
        slit it widens by ``widen`` mm per mm and fades over the red lips and a little beyond,
        so the skin that follows the lip's edge is the lip itself.
        """
        idn = self.idn
        d = self.py - idn.mouth_y
        w = idn.mouth_half_width + widen * np.abs(d)
        t2 = np.clip((self.px / w) ** 2, 0.0, 1.0)
        lateral = (1.0 - t2) ** 1.5 * (1.0 + fullness * t2)
        sigma = np.where(d > 0, idn.upper_lip + 5.0, idn.lower_lip + 4.0)
        return lateral * np.exp(-0.5 * (d / sigma) ** 2) * self.skin

    def mandible(self) -> np.ndarray:
        """How far each point of the skin follows the mandible: 1 rigidly, 0 not at all.

        The lower lip, the chin and the jaw line out to the edge of the mask ride on the bone;
        the upper lip and everything above the cheekbones stay. Between them the skin of the
        lower cheek stretches: at the midline over the lips (the lower lip follows the jaw,
        the upper one does not, the slit opens by :meth:`lip_parting`), farther out over a band
        that rises toward the jaw joints, so the jaw line moves with the chin and the cheeks
        lengthen smoothly instead of the chin hanging from a crease.
        """
        idn = self.idn
        ls = idn.length_scale
        out = smoothstep(idn.mouth_half_width, idn.mouth_half_width + 40.0, self.ax)
        top = (1 - out) * (idn.mouth_y + 12.0 * ls) + out * (idn.eye_y - 22.0 * ls)
        bottom = (1 - out) * (idn.mouth_y - 10.0 * ls) + out * (idn.mouth_y - 22.0 * ls)
        band = smoothstep(top, bottom, self.py)
        o = self.lip_parting()
        lower = self.lower.astype(np.float64)
        # below the slit the lips' share lifts the weight toward 1, above it toward 0
        follow = lower * (1 - (1 - band) * (1 - o)) + (1 - lower) * band * (1 - o)
        return follow * self.skin

    def jaw(self, angle: float) -> np.ndarray:
        """The jaw opening by ``angle`` radians: the mandible's motion, blended into the skin.

        The bone rotates about the jaw joints (level with the nose wings, about 0.8 head
        depths behind the face) while the condyles glide forward and down; a point rigidly on
        it moves along the chord of that motion, which the fields scale linearly (sequences
        interpolate the same chord). :meth:`mandible` says how much of it each point takes.
        """
        idn = self.idn
        pivot_y = shapes.alar_points(idn)[1][1]
        pivot_z = -0.8 * idn.head_depth
        y = self.xyz[:, 1] - pivot_y
        z = self.xyz[:, 2] - pivot_z
        c, s = np.cos(angle), np.sin(angle)
        forward, down = _CONDYLE_GLIDE
        dy = (c - 1) * y - s * z - down * angle
        dz = s * y + (c - 1) * z + forward * angle
        follow = self.mandible()
        return self.vec(follow, dy=dy, dz=dz)

    def brow_mask(self) -> np.ndarray:
        """0 at the upper lid margin, 1 from just below the brow up: brows move, lids stretch."""
        return smoothstep(self.idn.eye_y + 5.0, self.idn.eye_y + 13.0, self.py)

    def lids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lateral weight across each eye, and the upper/lower lid vertical weights.

        The upper weight is 1 on the upper lid margin and fades above it; the lower one is 1 on
        the lower margin and fades below. Inside the opening there is no skin (the eyeball
        shows), so the two can switch over there without tearing the mesh at the eye corners.
        """
        idn = self.idn
        lateral = np.zeros(self.n)
        for side in (-1, 1):
            lateral += np.exp(
                -0.5 * ((self.px - side * idn.eye_x) / (0.85 * idn.eye_half_width)) ** 4
            )
        d = self.py - idn.eye_y
        mu, ml = 1.15 * idn.eye_half_height, 0.8 * idn.eye_half_height
        up = smoothstep(-0.5 * ml, 0.5 * mu, d) * np.where(
            d > mu + 1, np.exp(-0.5 * ((d - mu - 1) / 6.0) ** 2), 1.0
        )
        low = (1 - smoothstep(-0.5 * ml, 0.5 * mu, d)) * np.where(
            d < -ml - 1, np.exp(-0.5 * ((d + ml + 1) / 5.0) ** 2), 1.0
        )
        return lateral * self.skin, up, low

    def furrows(
        self, window: np.ndarray, along: np.ndarray, period: float, depth: float
    ) -> np.ndarray:
        """Parallel grooves (z, mm) inside ``window``: ``depth`` deep every ``period`` mm of
        ``along`` (the coordinate across the furrows), scaled by the face's :attr:`crease`."""
        groove = 0.5 + 0.5 * np.cos(2 * np.pi * along / period)
        return self.vec(window * groove, dz=-depth * self.crease)

    def nasolabial(self, depth: float, bulge: float, reach: float = 1.0) -> np.ndarray:
        """The nasolabial fold deepening: a groove along the fold line and the cheek bunched up
        on its lateral side (what zygomaticus, levator labii and the cheek raiser all do).

        ``reach`` is how far down the fold the action goes (1: to beside the mouth corner).
        """
        out = np.zeros((self.n, 3))
        idn = self.idn
        for side in (-1, 1):
            p0, p1 = shapes.nasolabial_segment(idn, side)
            dist, t = shapes.segment_distance(self.px, self.py, p0, p1)
            along = 1.0 - smoothstep(0.55 * reach, reach, t)
            # which side of the line: the cheek is lateral (away from the midline)
            nx, ny = p1[1] - p0[1], -(p1[0] - p0[0])
            lateral = np.sign(nx * side) * ((self.px - p0[0]) * nx + (self.py - p0[1]) * ny)
            on_side = np.sign(self.px) == side
            groove = np.exp(-0.5 * (dist / 2.2) ** 2) * along
            cheek = np.exp(-0.5 * ((dist - 6.0) / 4.0) ** 2) * along * (lateral > 0) * (dist > 0.5)
            out += self.vec(
                (cheek * bulge - groove * depth * self.crease) * on_side * self.skin, dz=1.0
            )
        return out

    def opening(self) -> np.ndarray:
        """Height of the eye opening above each vertex's ``px`` (0 outside the eyes)."""
        out = np.zeros(self.n)
        for side in (-1, 1):
            upper, lower = shapes.eye_lids(self.idn, side, self.px)
            out += np.nan_to_num(upper - lower, nan=0.0)
        return out


# ---------------------------------------------------------------------------------- fields
def _au_field(c: _Ctx, au: int) -> np.ndarray:
    idn = c.idn
    px, py, ax, sgn = c.px, c.py, c.ax, c.sgn
    my, mw = idn.mouth_y, idn.mouth_half_width
    skin = c.skin
    if au == 1:
        w = gauss(ax, py, idn.eye_x - 11.0, idn.brow_y + 2.0, 10.0, 13.0) * c.brow_mask() * skin
        lines = gauss(ax, py, idn.eye_x - 14.0, idn.brow_y + 22.0, 15.0, 10.0) * skin
        return (
            c.vec(w, dy=8.0)
            + c.vec(w, dx=-sgn * 1.0)
            + c.furrows(lines * c.brow_mask(), py - idn.brow_y, 9.0, 1.4)
        )
    if au == 2:
        w = gauss(ax, py, idn.eye_x + 12.0, idn.brow_y + 2.0, 11.0, 13.0) * c.brow_mask() * skin
        lines = gauss(ax, py, idn.eye_x + 8.0, idn.brow_y + 20.0, 15.0, 9.0) * skin
        return c.vec(w, dy=8.0) + c.furrows(lines * c.brow_mask(), py - idn.brow_y, 9.0, 1.2)
    if au == 4:
        mask = c.brow_mask() * skin
        w = gauss(ax, py, idn.eye_x - 6.0, idn.brow_y, 14.0, 10.0) * mask
        inward = gauss(ax, py, idn.eye_x - 13.0, idn.brow_y, 10.0, 9.0) * mask
        bulge = gauss(px, py, 0.0, idn.brow_y - 3.0, 6.0, 6.0) * skin
        # the corrugator bunches the skin above the inner brows and cuts vertical furrows
        # between them; the lowered brow overhangs the eye
        knot = gauss(ax, py, idn.eye_x - 17.0, idn.brow_y + 2.0, 5.0, 6.0) * skin
        glabella = gauss(px, py, 0.0, idn.brow_y + 1.0, 7.0, 9.0) * skin
        return (
            c.vec(w, dy=-6.5, dz=1.5)
            + c.vec(inward, dx=-sgn * 4.0)
            + c.vec(bulge, dz=1.5)
            + c.vec(knot, dz=2.0)
            + c.furrows(glabella, px, 8.0, 1.6)
        )
    lateral, up, low = c.lids()
    if au == 5:
        return c.vec(lateral * up, dy=4.0)
    if au == 7:
        return c.vec(lateral * up, dy=-1.3) + c.vec(lateral * low, dy=2.5, dz=0.5)
    if au == 43:
        return c.vec(lateral * up * c.opening(), dy=-1.0)
    if au == 6:
        cheek = gauss(ax, py, idn.eye_x + 3.0, idn.eye_y - 21.0, 16.0, 11.0) * skin
        # crow's feet: lines fanning out from the outer eye corner
        cx = idn.eye_x + idn.eye_half_width + 4.0
        fan = gauss(ax, py, cx + 4.0, idn.eye_y - 2.0, 6.0, 8.0) * skin
        angle = np.arctan2(py - idn.eye_y, ax - cx + 6.0)
        lower_lid = gauss(ax, py, idn.eye_x, idn.eye_y - 1.6 * idn.eye_half_height - 3.0, 11.0, 3.0)
        return (
            c.vec(cheek, dy=4.0, dz=3.0)
            + c.vec(lateral * low, dy=2.2)
            + c.vec(lower_lid * skin, dz=1.2)
            + c.furrows(fan, angle * 12.0, 4.0, 0.8)
            + c.nasolabial(1.2, 1.5)
        )
    if au == 9:
        root = gauss(px, py, 0.0, idn.nasion_y - 12.0, 12.0, 10.0) * skin
        (alx, aly) = shapes.alar_points(idn)[1]
        ala = gauss(ax, py, alx, aly, 7.0, 6.0) * skin
        wrinkle = (
            np.sin(2 * np.pi * (py - idn.nasion_y) / 4.5)
            * gauss(px, py, 0.0, idn.nasion_y - 7.0, 9.0, 5.0)
            * skin
        )
        brow = gauss(ax, py, idn.eye_x - 10.0, idn.brow_y, 10.0, 8.0) * c.brow_mask() * skin
        return (
            c.vec(root, dy=3.0)
            + c.vec(ala, dx=sgn * 1.5, dy=3.5, dz=1.0)
            + c.vec(wrinkle, dz=0.9)
            + c.vec(brow, dy=-2.5)
            + c.vec(c.lens_up(0.5, 6.0), dy=2.0)
            + c.vec(lateral * low, dy=1.5)
            + c.nasolabial(1.0, 1.2, reach=0.6)
            + c.vec(gauss(px, py, 0.0, idn.nasion_y - 1.0, 9.0, 1.8) * skin, dz=-1.0 * c.crease)
        )
    if au == 10:
        lip = c.lens_up(0.4, 9.0, flat=4.0)
        (alx, aly) = shapes.alar_points(idn)[1]
        fold = gauss(ax, py, alx + 4.0, aly - 4.0, 7.0, 7.0) * skin
        return (
            c.vec(lip, dy=4.5, dz=1.0) + c.vec(fold, dy=2.0, dz=0.8) + c.nasolabial(1.5, 2.0, 0.8)
        )
    if au == 12:
        corner = gauss(ax, py, mw, my, 13.0, 11.0) * skin
        return c.vec(corner, dx=sgn * 5.5, dy=6.5, dz=-3.0) + c.nasolabial(2.0, 3.0)
    if au == 14:
        w = gauss(ax, py, mw + 2.0, my, 7.0, 7.0) * skin
        return c.vec(w, dx=sgn * 1.5, dz=-3.0)
    if au == 15:
        w = gauss(ax, py, mw, my - 2.0, 10.0, 10.0) * skin
        # depressor anguli oris pulls the corner down and a little out; the skin it gathers
        # bulges below and beside the corner, with the marionette groove between
        jowl = gauss(ax, py, mw + 7.0, my - 14.0, 7.0, 7.0) * skin
        groove = gauss(ax, py, mw + 1.0, my - 12.0, 2.0, 8.0) * skin
        return (
            c.vec(w, dx=sgn * 0.8, dy=-5.5, dz=-0.5)
            + c.vec(jowl, dz=1.6)
            + c.vec(groove, dz=-1.2 * c.crease)
        )
    if au == 17:
        chin = gauss(px, py, 0.0, idn.chin_y + 15.0, 18.0, 12.0) * skin
        lip = gauss(px, py, 0.0, my - 6.0, 0.8 * mw, 7.0) * skin
        # the mentolabial sulcus deepens as the chin boss is pushed up into it; the chin
        # skin dimples (peau d'orange)
        sulcus = gauss(px, py, 0.0, my - idn.lower_lip - 5.0, 13.0, 2.5) * skin
        dimples = gauss(px, py, 0.0, idn.chin_y + 14.0, 12.0, 8.0) * skin
        return (
            c.vec(chin, dy=4.0, dz=3.0)
            + c.vec(lip, dy=2.5, dz=2.0)
            + c.vec(sulcus, dz=-2.0)
            + c.furrows(dimples, np.hypot(px, py - idn.chin_y), 5.0, 0.5)
        )
    if au == 20:
        w = gauss(ax, py, mw, my, 12.0, 9.0) * skin
        flat = gauss(px, py, 0.0, my, mw, 7.0) * skin
        # the risorius pulls the corners sideways, flattening the lips and creasing the cheek
        # beside the corner vertically
        crease = gauss(ax, py, mw + 9.0, my - 2.0, 2.5, 9.0) * skin
        neck = gauss(ax, py, mw + 4.0, my - 22.0, 10.0, 6.0) * skin
        return (
            c.vec(w, dx=sgn * 6.5, dy=-1.5, dz=-2.5)
            + c.vec(flat, dz=-1.0)
            + c.vec(crease, dz=-1.5 * c.crease)
            + c.vec(neck, dy=-1.5, dz=-1.0)
        )
    if au in (23, 24):
        lips = gauss(px, py, 0.0, my, 0.9 * mw, 9.0) * skin
        thin = -(py - my) * (0.35 if au == 23 else 0.3) * lips
        narrow = gauss(ax, py, mw, my, 8.0, 8.0) * skin
        out = c.vec(thin, dy=1.0) + c.vec(lips, dz=-1.0 if au == 23 else -2.5)
        if au == 23:
            out += c.vec(narrow, dx=-sgn * 2.5)
        else:
            rim = (
                gauss(px, py, 0.0, my + 12.0, mw, 4.0) + gauss(px, py, 0.0, my - 13.0, mw, 4.0)
            ) * skin
            out += c.vec(rim, dz=1.0)
        return out
    if au == 25:
        # the lips part without the jaw: the lower lip drops off the teeth, the upper lifts
        o = c.lip_parting(widen=0.0)
        return c.vec(o * c.upper, dy=1.5) + c.vec(o * c.lower, dy=-3.0)
    if au == 26:
        return c.jaw(JAW_DROP_ANGLE)
    if au == 27:
        # the mouth stretched wide open: the jaw pulled far down, the corners drawn in so the
        # opening rounds, the upper lip lifted off the teeth
        corner = gauss(ax, py, mw, my, 8.0, 8.0) * skin
        return (
            c.jaw(MOUTH_STRETCH_ANGLE)
            + c.vec(corner, dx=-sgn * 3.5)
            + c.vec(c.lens_up(0.3, 8.0), dy=2.5)
        )
    raise KeyError(f"action unit {au} is not modelled; known: {sorted(ACTION_UNITS)}")


def au_field(head: SyntheticHead, au: int) -> np.ndarray:
    """Displacement ``(V, 3)`` (mm) of action unit ``au`` at activation 1, both sides.

    Cached on the head: a subject's 25 scans reuse the same fields.
    """
    cache = head.cache.setdefault("au_fields", {})
    if au not in cache:
        cache[au] = _au_field(_Ctx(head), au)
    return cache[au]


def _inplane_gradient(head: SyntheticHead, au: int) -> np.ndarray:
    """``(V, 2, 2)`` gradient of the field's in-plane part: ``g[:, i, j] = d u_i / d p_j``,
    by central differences of the field evaluated on a shifted sheet. Cached on the head."""
    cache = head.cache.setdefault("au_gradients", {})
    if au not in cache:
        h = _STRAIN_STEP
        fx = [_au_field(_Ctx(head, (s * h, 0.0)), au)[:, :2] for s in (1.0, -1.0)]
        fy = [_au_field(_Ctx(head, (0.0, s * h)), au)[:, :2] for s in (1.0, -1.0)]
        cache[au] = np.stack([(fx[0] - fx[1]) / (2 * h), (fy[0] - fy[1]) / (2 * h)], axis=2)
    return cache[au]


def tissue_bulge(head: SyntheticHead, gradient: np.ndarray) -> np.ndarray:
    """Out-of-plane response ``(V,)`` (mm) of the soft tissue to the in-plane motion.

    Skin and fat are nearly incompressible: where the muscles gather the skin (negative
    divergence: the cheek under a smile, the glabella under a frown, the chin under AU17) it
    bulges out; where they stretch it, it flattens a little. Fuller faces bulge more. The
    combined motion of all active units decides, so blends bulge where their pulls meet.
    """
    compression = -(gradient[:, 0, 0] + gradient[:, 1, 1])
    gain = BULGE_PER_COMPRESSION * (0.7 + 0.3 * head.identity.cheek_fullness)
    dz = gain * np.clip(compression, 0.0, None) - 0.3 * gain * np.clip(-compression, 0.0, None)
    return dz * head.skin


def _side_weights(head: SyntheticHead, spread: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth split of the face into image-left and image-right for one-sided actions, over
    ``spread`` mm either side of the midline."""
    left = 1.0 - smoothstep(-spread, spread, head.sheet[:, 0])
    return left, 1.0 - left


def au_displacement(
    head: SyntheticHead, activation: Mapping[int, float | tuple[float, float]]
) -> np.ndarray:
    """Sum of the fields of ``activation`` (AU → weight, or AU → (left, right) weights)."""
    sides = _side_weights(head)
    # the mandible is one bone: one side opening further tilts it across the whole jaw
    jaw_sides = _side_weights(head, 0.5 * head.identity.sheet_half_width)
    total = np.zeros_like(head.mesh.vertices)
    gradient = np.zeros((len(total), 2, 2))
    for au, weight in sorted(activation.items()):
        wl, wr = (weight, weight) if np.isscalar(weight) else weight
        if wl == 0 and wr == 0:
            continue
        field = au_field(head, au)
        if wl == wr:
            total += wl * field
            gradient += wl * _inplane_gradient(head, au)
        else:
            left, right = jaw_sides if au in _JAW_AUS else sides
            w = wl * left + wr * right
            total += field * w[:, None]
            gradient += _inplane_gradient(head, au) * w[:, None, None]
    total[:, 2] += tissue_bulge(head, gradient)
    return total


# ---------------------------------------------------------------------------------- emotions
def subject_recipe(
    emotion: str,
    rng: np.random.Generator | None = None,
    side_bias: float = 0.0,
    idiosyncrasy: float = 1.0,
) -> Activation:
    """One subject's way of showing ``emotion`` at full intensity.

    Without ``rng`` the prototype. With it, the subject makes one of the emotion's
    :data:`EMOTION_VARIANTS`, may leave optional AUs out, weights vary by about ±20% and the
    two sides by about 10% (plus ``side_bias``, a subject's habitual lopsidedness: positive
    = stronger on the image left), so no two subjects do exactly the same thing.
    ``idiosyncrasy`` scales all of that: the odds of a non-prototype variant and the spreads of
    the weights and of the two sides (1: as described; 0: every subject makes the prototype,
    with no spread). The draws are the same whatever its value.
    """
    if emotion not in EMOTION_RECIPES:
        raise ValueError(
            f"unknown emotion {emotion!r}; expected one of {', '.join(BASIC_EMOTIONS)}"
        )
    if rng is None:
        return {au: (w, w) for au, w in EMOTION_RECIPES[emotion].items()}
    variants = EMOTION_VARIANTS[emotion]
    odds = np.array([p for p, _ in variants])
    odds = odds / odds.sum()
    if idiosyncrasy != 1.0:
        others = odds[1:] * float(np.clip(idiosyncrasy, 0.0, 1.0 / (1.0 - odds[0])))
        odds = np.concatenate([[1.0 - others.sum()], others])
    recipe = variants[int(rng.choice(len(variants), p=odds))][1]
    out: Activation = {}
    optional = OPTIONAL_AUS.get(emotion, {})
    for au, w in sorted(recipe.items()):
        drop = rng.random() < optional.get(au, 0.0)
        scale = float(np.exp(idiosyncrasy * rng.normal(0.0, 0.2)))
        asym = float(np.clip(side_bias + idiosyncrasy * rng.normal(0.0, 0.1), -0.3, 0.3))
        if not drop:
            out[au] = (w * scale * (1 + asym), w * scale * (1 - asym))
    return out


def web_activation(emotion: str, intensity: int, rng: np.random.Generator) -> Activation:
    """A one-off rendition of ``emotion`` at BU-3DFE level ``intensity``, as a face in a web
    photograph shows it: any variant, AUs left out or weakened at random, a blend with another
    emotion, a stray unit or two, strong asymmetry, a strength that the level only roughly
    sets; a "neutral" face often carries a faint action. Used by the pretraining corpus, whose
    expressions must not be the evaluation set's renditions.
    """
    if emotion == NEUTRAL or intensity == 0:
        if rng.random() < 0.5:
            return {}
        au = int(rng.choice(sorted(ACTION_UNITS)))
        w = float(rng.uniform(0.1, 0.3))
        return {au: (w, w)}
    if emotion not in EMOTION_RECIPES:
        raise ValueError(f"unknown emotion {emotion!r}")
    variants = EMOTION_VARIANTS[emotion]
    recipe = dict(variants[int(rng.integers(len(variants)))][1])
    strongest = max(recipe, key=recipe.get)
    for au in list(recipe):
        if au != strongest and rng.random() < 0.3:
            del recipe[au]
    if rng.random() < 0.3:  # a blend: another emotion shows through
        other = str(rng.choice([e for e in EMOTION_RECIPES if e != emotion]))
        mix = float(rng.uniform(0.2, 0.5))
        for au, w in EMOTION_RECIPES[other].items():
            recipe[au] = recipe.get(au, 0.0) + mix * w
    for _ in range(int(rng.poisson(0.6))):  # stray actions
        au = int(rng.choice(sorted(ACTION_UNITS)))
        recipe[au] = recipe.get(au, 0.0) + float(rng.uniform(0.2, 0.6))
    strength = INTENSITY_SCALE[intensity] * float(rng.uniform(0.6, 1.4))
    out: Activation = {}
    for au, w in sorted(recipe.items()):
        w = w * strength * float(np.exp(rng.normal(0.0, 0.3)))
        asym = float(np.clip(rng.normal(0.0, 0.2), -0.6, 0.6))
        out[au] = (w * (1 + asym), w * (1 - asym))
    return out


def scale_activation(activation: Mapping[int, tuple[float, float]], factor: float) -> Activation:
    """Every weight of ``activation`` times ``factor``."""
    return {au: (wl * factor, wr * factor) for au, (wl, wr) in activation.items()}


def emotion_activation(
    emotion: str, intensity: int, recipe: Activation | None = None
) -> Activation:
    """Activation of ``emotion`` at BU-3DFE ``intensity`` (1–4; neutral is 0 / ``neutral``)."""
    if emotion == NEUTRAL or intensity == 0:
        return {}
    if intensity not in INTENSITY_SCALE:
        raise ValueError(f"intensity must be 0–4, got {intensity}")
    recipe = subject_recipe(emotion) if recipe is None else recipe
    return scale_activation(recipe, INTENSITY_SCALE[intensity])


def expression_vertices(
    head: SyntheticHead,
    emotion: str,
    intensity: int = 4,
    recipe: Activation | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Vertex positions of ``head`` showing ``emotion`` at ``intensity``.

    ``recipe`` fixes the subject's way of making the expression; otherwise one is drawn from
    ``rng`` (or the prototype when ``rng`` is None as well).
    """
    if emotion != NEUTRAL and recipe is None:
        recipe = subject_recipe(emotion, rng)
    activation = emotion_activation(emotion, intensity, recipe)
    return head.mesh.vertices + au_displacement(head, activation)

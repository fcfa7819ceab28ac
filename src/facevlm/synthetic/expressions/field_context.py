"""The sheet coordinates and masks of a head that the action-unit fields are built on
(:class:`_Ctx`), with the shared pieces of the fields: lip parting, the mandible's motion,
the eyelids, furrows and the nasolabial fold.

Separate from the fields themselves (:mod:`.au_fields`) because these pieces are shared by
several action units and adapt to each identity's features; the fields only combine them.
"""

from __future__ import annotations

import numpy as np

from facevlm.synthetic.procedural import shapes
from facevlm.synthetic.procedural.head import SyntheticHead
from facevlm.synthetic.procedural.shapes import smoothstep

#: How far the condyles glide forward and down the articular eminence per radian of opening
#: (mm): the chin swings down and back, but less far back than a pure hinge would take it.
_CONDYLE_GLIDE = (20.0, 6.0)


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

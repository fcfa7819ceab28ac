"""Each modelled action unit's displacement field (mm) at activation 1, both sides
(:func:`_au_field`), built on a head's face sheet from the pieces of :mod:`.field_context`.

Separate because it is the catalogue of the muscles' actions, one branch per action unit;
caching, one-sided weights and the tissue's response live in :mod:`.displacement`.
"""

from __future__ import annotations

import numpy as np

from facevlm.synthetic.expressions.field_context import _Ctx
from facevlm.synthetic.expressions.recipes import ACTION_UNITS
from facevlm.synthetic.procedural import shapes
from facevlm.synthetic.procedural.shapes import gauss

#: Jaw rotation (radians) of the jaw drop and of the mouth stretch at activation 1: the lower
#: lip of an average face drops about 13 and 18 mm.
JAW_DROP_ANGLE = 0.15
MOUTH_STRETCH_ANGLE = 0.2


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

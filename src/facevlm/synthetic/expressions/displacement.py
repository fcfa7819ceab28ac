"""An activation (action unit -> weight, or -> (left, right) weights) as one displacement of a
head: the fields cached on the head, one-sided weights split smoothly at the midline (the jaw
as one bone), and the soft tissue's bulge where the combined motion gathers the skin.

Separate from the fields (:mod:`.au_fields`) because it is how fields combine, whatever
each one does.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from facevlm.synthetic.expressions.au_fields import _au_field
from facevlm.synthetic.expressions.field_context import _Ctx
from facevlm.synthetic.procedural.head import SyntheticHead
from facevlm.synthetic.procedural.shapes import smoothstep

#: Soft-tissue bulge (z, mm) per unit of in-plane compression of the skin (see
#: :func:`tissue_bulge`), for a face of average fullness.
BULGE_PER_COMPRESSION = 6.0
#: Step (mm) of the finite differences that measure how a field compresses the skin.
_STRAIN_STEP = 1.5
#: Action units that move the mandible, one bone: a lopsided activation tilts the jaw across the
#: whole face instead of shearing the chin along the midline.
_JAW_AUS = frozenset({26, 27})


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

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

The package, one job a module (this module: :func:`expression_vertices`, a head showing an
emotion):

- :mod:`.recipes`        the action units, the emotions' recipes and their variants, intensities
- :mod:`.field_context`  a head's sheet coordinates and masks, and the fields' shared pieces
- :mod:`.au_fields`      each action unit's displacement field
- :mod:`.displacement`   an activation as one displacement: cache, sides, tissue bulge
"""

from __future__ import annotations

import numpy as np

from facevlm.scans.labels import NEUTRAL
from facevlm.synthetic.expressions.displacement import (
    au_displacement,
    au_field,
    tissue_bulge,
)
from facevlm.synthetic.expressions.recipes import (
    ACTION_UNITS,
    EMOTION_RECIPES,
    EMOTION_VARIANTS,
    INTENSITY_SCALE,
    OPTIONAL_AUS,
    Activation,
    emotion_activation,
    scale_activation,
    subject_recipe,
    web_activation,
)
from facevlm.synthetic.procedural.head import SyntheticHead

__all__ = [
    "ACTION_UNITS",
    "EMOTION_RECIPES",
    "EMOTION_VARIANTS",
    "INTENSITY_SCALE",
    "OPTIONAL_AUS",
    "Activation",
    "au_displacement",
    "au_field",
    "emotion_activation",
    "expression_vertices",
    "scale_activation",
    "subject_recipe",
    "tissue_bulge",
    "web_activation",
]


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

"""Faces the face reader's tests read: ICT-FaceKit subjects of the built-in set, posed by the
synthetic set's emotion recipes and rendered offscreen in the default run's three views.

The real Face Landmarker reads them (its model ships in the package); no photo or scan of a real
person is used.
"""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.render.renderer import MultiviewRenderer
from facevlm.render.settings import RenderSettings
from facevlm.render.views import View
from facevlm.scans.labels import NEUTRAL
from facevlm.synthetic.expressions import EMOTION_RECIPES
from facevlm.synthetic.ict_facekit.head import build_ict_head
from facevlm.synthetic.procedural.identity import sample_identity

#: What the faces show: a smile and an open-mouthed surprise are what the landmarker reads most
#: surely, against a resting face.
EXPRESSIONS = (NEUTRAL, "happiness", "surprise")
VIEWS = (View(0.0, 0.0), View(20.0, 0.0), View(-20.0, 0.0))


def render_subject(seed: int, size: int = 160) -> dict[str, np.ndarray]:
    """One subject's ``(3, size, size, 3)`` shaded views of each of :data:`EXPRESSIONS`."""
    rng = np.random.default_rng(seed)
    head = build_ict_head(sample_identity(rng, "F" if seed % 2 else "M"), rng, "face")
    renderer = MultiviewRenderer(RenderSettings(size=size, views=VIEWS, modality="shaded"))
    try:
        faces = {}
        for expression in EXPRESSIONS:
            activation = {} if expression == NEUTRAL else dict(EMOTION_RECIPES[expression])
            moved = head.mesh.vertices + head.displacement(activation)
            faces[expression] = renderer.render(head.with_vertices(moved))
        return faces
    finally:
        renderer.close()


@pytest.fixture(scope="session")
def rendered_faces() -> dict[int, dict[str, np.ndarray]]:
    """Four subjects (seeds 1-4), each in every expression: ``{seed: {expression: views}}``."""
    return {seed: render_subject(seed) for seed in range(1, 5)}

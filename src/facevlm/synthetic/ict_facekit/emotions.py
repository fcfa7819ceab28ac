"""Emotions on ICT-FaceKit's blend shapes: each basic emotion's FACS prototype as ARKit-named
shapes, and one subject's weights for an emotion at a BU-3DFE intensity.

Separate because it is the one part of the face source that knows about emotions: the model
and the paint do not.
"""

from __future__ import annotations

import numpy as np

from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL
from facevlm.synthetic.ict_facekit.model import IctFaceModel

#: Each emotion's FACS prototype as ARKit blend shapes at full intensity (after EMFACS; AU6
#: cheek raiser = cheekSquint + cheekRaiser, AU12 = mouthSmile, AU15 = mouthFrown, AU17 =
#: mouthShrugLower, AU20 = mouthStretch, AU23/24 = mouthPress + mouthRollLower, AU9 =
#: noseSneer, AU10 = mouthUpperUp, AU1 = browInnerUp, AU2 = browOuterUp, AU4 = browDown, AU5 =
#: eyeWide, AU7 = eyeSquint, AU26 = jawOpen, AU25 = mouthLowerDown). A name without a side is
#: applied to both ``_L`` and ``_R`` shapes.
EMOTION_SHAPES: dict[str, dict[str, float]] = {
    "anger": {
        "browDown": 1.4,
        "eyeSquint": 1.0,
        "eyeWide": 0.3,
        "mouthPress": 1.0,
        "mouthRollLower": 0.4,
        "noseSneer": 0.3,
    },
    "disgust": {
        "noseSneer": 1.0,
        "mouthUpperUp": 0.9,
        "cheekSquint": 0.4,
        "mouthFrown": 0.4,
        "mouthShrugLower": 0.5,
        "browDown": 0.3,
    },
    "fear": {
        "browInnerUp": 1.0,
        "browOuterUp": 0.5,
        "browDown": 0.3,
        "eyeWide": 1.0,
        "mouthStretch": 0.9,
        "jawOpen": 0.25,
        "mouthLowerDown": 0.4,
    },
    "happiness": {
        "mouthSmile": 1.0,
        "cheekSquint": 0.8,
        "cheekRaiser": 0.6,
        "eyeSquint": 0.2,
        "jawOpen": 0.1,
        "mouthUpperUp": 0.2,
    },
    "sadness": {
        "browInnerUp": 0.9,
        "browDown": 0.3,
        "mouthFrown": 1.0,
        "mouthShrugLower": 0.6,
        "eyeBlink": 0.15,
    },
    "surprise": {
        "browInnerUp": 1.0,
        "browOuterUp": 1.0,
        "eyeWide": 0.9,
        "jawOpen": 0.55,
        "mouthFunnel": 0.15,
    },
}
#: Shapes a subject may leave out of the prototype, with the probability that they do.
OPTIONAL_SHAPES: dict[str, dict[str, float]] = {
    "anger": {"eyeWide": 0.5, "mouthRollLower": 0.4, "noseSneer": 0.5},
    "disgust": {"cheekSquint": 0.4, "mouthFrown": 0.4, "browDown": 0.5},
    "fear": {"browOuterUp": 0.3, "jawOpen": 0.4, "browDown": 0.5},
    "happiness": {"cheekRaiser": 0.3, "jawOpen": 0.5, "mouthUpperUp": 0.5},
    "sadness": {"browDown": 0.4, "mouthShrugLower": 0.3, "eyeBlink": 0.5},
    "surprise": {"mouthFunnel": 0.6},
}
#: The strongest weight a shape gets: a little beyond the artist's 1.0 (ICT's brow shapes move
#: the brows by under 5 mm at 1.0, less than a deliberate frown), not so far that it tears.
MAX_WEIGHT = 1.5
#: BU-3DFE's intensity levels 1-4 as a scale of the prototype (0 = neutral).
INTENSITY_SCALE: dict[int, float] = {0: 0.0, 1: 0.4, 2: 0.6, 3: 0.8, 4: 1.0}


def emotion_expression(emotion: str, intensity: int, rng: np.random.Generator) -> dict[str, float]:
    """Blend-shape weights of one subject's ``emotion`` at BU-3DFE ``intensity`` (1-4).

    Per-subject variation, so that no two subjects pose an emotion alike: optional shapes are
    left out with their probability, each shape's strength varies (log-normal, sd 0.25), and
    the left and right sides differ a little (sd 0.1). ``neutral`` gives no weights.
    """
    if emotion == NEUTRAL:
        return {}
    if emotion not in EMOTION_SHAPES:
        raise ValueError(f"emotion must be one of {(NEUTRAL, *BASIC_EMOTIONS)}, got {emotion!r}")
    scale = INTENSITY_SCALE[int(intensity)]
    weights: dict[str, float] = {}
    for shape, strength in EMOTION_SHAPES[emotion].items():
        if rng.random() < OPTIONAL_SHAPES[emotion].get(shape, 0.0):
            continue
        value = strength * scale * float(rng.lognormal(0.0, 0.25))
        for side in ("_L", "_R"):
            weights_name = f"{shape}{side}"
            sided = value * (1.0 + 0.1 * float(rng.standard_normal()))
            weights[weights_name] = float(np.clip(sided, 0.0, MAX_WEIGHT))
    return _unsided(weights)


def _unsided(weights: dict[str, float]) -> dict[str, float]:
    """Shapes with no sided version (``jawOpen``, ``mouthFunnel``) take the mean of the two."""
    names = set(IctFaceModel.load().expression_names)
    result: dict[str, float] = {}
    for name, value in weights.items():
        if name in names:
            result[name] = value
            continue
        plain = name[:-2]
        if plain not in names:
            raise ValueError(f"no ICT-FaceKit shape {name!r} or {plain!r}")
        result[plain] = result.get(plain, 0.0) + value / 2.0
    return result

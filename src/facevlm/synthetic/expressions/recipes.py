"""The six basic emotions as action-unit recipes: the action units we model, each emotion's
prototype and its other EMFACS variants, one subject's way of showing an emotion, a web
photograph's one-off rendition, and BU-3DFE's intensity levels as a scale of the recipe.

Separate from the displacement fields because a recipe is only numbers per action unit: the
sequences, the layout writers, the captions and the ICT heads read and scale recipes without
moving a face.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL

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

#: ``AU -> (left, right)`` activation; left is the image left (x < 0).
Activation = dict[int, tuple[float, float]]


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

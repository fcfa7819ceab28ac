"""Canonical expression vocabularies shared by readers, prompts, models and reports.

Every dataset spells its labels differently (BU-3DFE ``HA``, BU-4DFE ``Happy``, Bosphorus
``HAPPY``, BP4D task ``T1``); readers map them onto these names so that a scan index from any
dataset, the prompt bank and the evaluation all speak one language.
"""

from __future__ import annotations

#: The six basic emotions, in the order used for class indices everywhere.
BASIC_EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")

#: Neutral is a scan label (BU-3DFE ``NE00``, sequence ends) but not one of the six classes.
NEUTRAL = "neutral"

#: 4DME micro-expression classes (a sample may carry several indicator columns).
MICRO_EXPRESSION_CLASSES: tuple[str, ...] = (
    "positive",
    "negative",
    "surprise",
    "repression",
    "others",
)

#: Emotion → 4DME class, used to give synthetic micro-expression clips their labels.
EMOTION_TO_MICRO_CLASS: dict[str, str] = {
    "happiness": "positive",
    "anger": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sadness": "negative",
    "surprise": "surprise",
}

#: Number of intensity levels of BU-3DFE (01 lowest .. 04 highest); neutral is intensity 0.
INTENSITY_LEVELS: tuple[int, ...] = (1, 2, 3, 4)

"""Emotion labels as photo sets and FACS tables spell them, onto the project's names.

Why: every set spells its labels its own way (FER2013's folders ``happy`` and ``angry``, CK+'s
``happy``, RAF-DB's numbers 1-7, AffectNet's 0-7), and a bank row must name its emotion as the
scan index and the prompts do (:mod:`facevlm.scans.labels`). Common English spellings are known
here; a set's own codes (a number per emotion) are given per set in the parameters, since the
same number means different emotions in different sets.
"""

from __future__ import annotations

from collections.abc import Mapping

from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL

#: Contempt: CK+ and AffectNet label it, though it is none of the six basic emotions.
CONTEMPT = "contempt"
#: The emotions a bank keeps unless told otherwise.
BANK_EMOTIONS: tuple[str, ...] = (NEUTRAL, *BASIC_EMOTIONS, CONTEMPT)
#: Common spellings (lower case) of each emotion.
COMMON_SPELLINGS: dict[str, str] = {
    **{name: name for name in BANK_EMOTIONS},
    "angry": "anger",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happy": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
    "contemptuous": CONTEMPT,
}


def emotion_name(label: object, labels: Mapping[str, str] | None = None) -> str:
    """The project's name of ``label``: first through a set's own ``labels`` (``"1"`` ->
    ``"surprise"``), then through :data:`COMMON_SPELLINGS`; an unknown spelling comes back in
    lower case, for the caller to keep or refuse."""
    text = str(label).strip()
    text = str((labels or {}).get(text, text)).strip().lower()
    return COMMON_SPELLINGS.get(text, text)

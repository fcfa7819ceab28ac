"""Words the prompt builders are allowed to use: emotion synonyms and subject-metadata words.

AffectVLM turns every label into many prompts (templates × emotion synonyms × subject metadata).
Keeping the words here, apart from the templates, means the vocabulary can be reviewed in one
place, tested for overlaps between classes (a synonym shared by two classes would make two class
prompts identical and the zero-shot classifier ambiguous), and reused by the app.

Metadata words are only produced for metadata the dataset records: every helper maps a missing
value (``None`` or pandas' ``NaN``) to ``None`` and the prompt builders then leave the slot out,
so a prompt never claims a gender, age or ethnicity the scan index does not hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from facevlm.scans.labels import NEUTRAL


@dataclass(frozen=True)
class EmotionWords:
    """The synonyms of one class, by the grammatical slot they fill in a template.

    Attributes:
        adjectives: fit "a photo of a ___ face" and "a woman looking ___".
        nouns: fit "a face showing ___".
        descriptions: participle phrases that fit "a young man ___" (what the person does).
    """

    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]
    descriptions: tuple[str, ...]

    def slot(self, name: str) -> tuple[str, ...]:
        """The words for template slot ``name`` (``adjective``, ``noun`` or ``description``)."""
        try:
            return {
                "adjective": self.adjectives,
                "noun": self.nouns,
                "description": self.descriptions,
            }[name]
        except KeyError:
            raise ValueError(
                f"unknown emotion slot {name!r}; expected one of {', '.join(EMOTION_SLOTS)}"
            ) from None


#: Template placeholders filled from :class:`EmotionWords`.
EMOTION_SLOTS: tuple[str, ...] = ("adjective", "noun", "description")

#: Template placeholders filled from subject metadata; each may be left out.
METADATA_SLOTS: tuple[str, ...] = ("age", "gender", "ethnicity")

#: Synonyms of the six basic emotions, neutral and the five 4DME classes. No word appears under
#: two classes (a test guards this), so class prompts stay distinguishable.
EMOTION_VOCABULARY: dict[str, EmotionWords] = {
    "anger": EmotionWords(
        adjectives=("angry", "furious", "irritated", "enraged", "hostile"),
        nouns=("anger", "rage", "fury", "irritation"),
        descriptions=("scowling", "glaring angrily", "frowning in rage", "clenching the jaw"),
    ),
    "disgust": EmotionWords(
        adjectives=("disgusted", "repulsed", "revolted", "sickened", "nauseated"),
        nouns=("disgust", "revulsion", "distaste", "aversion"),
        descriptions=(
            "wrinkling the nose in disgust",
            "sneering",
            "curling the upper lip",
            "grimacing with revulsion",
        ),
    ),
    "fear": EmotionWords(
        adjectives=("afraid", "fearful", "scared", "terrified", "frightened"),
        nouns=("fear", "terror", "fright", "dread"),
        descriptions=(
            "staring in terror",
            "shrinking back in fright",
            "trembling with fear",
            "cringing in dread",
        ),
    ),
    "happiness": EmotionWords(
        adjectives=("happy", "joyful", "cheerful", "delighted", "glad"),
        nouns=("happiness", "joy", "delight", "cheerfulness"),
        descriptions=("smiling", "grinning", "beaming", "laughing"),
    ),
    "sadness": EmotionWords(
        adjectives=("sad", "unhappy", "sorrowful", "gloomy", "downcast"),
        nouns=("sadness", "sorrow", "grief", "melancholy"),
        descriptions=("crying", "pouting sadly", "frowning in sorrow", "looking down in grief"),
    ),
    "surprise": EmotionWords(
        adjectives=("surprised", "astonished", "amazed", "startled", "shocked"),
        nouns=("surprise", "astonishment", "amazement", "shock"),
        descriptions=(
            "gasping in surprise",
            "gaping in amazement",
            "staring wide-eyed",
            "raising the eyebrows in astonishment",
        ),
    ),
    NEUTRAL: EmotionWords(
        adjectives=("neutral", "expressionless", "calm", "relaxed", "blank"),
        nouns=("no emotion", "a neutral expression", "calmness", "composure"),
        descriptions=("keeping a straight face", "resting the face", "staying calm"),
    ),
    "positive": EmotionWords(
        adjectives=("pleased", "content", "amused", "satisfied"),
        nouns=("a positive emotion", "a fleeting smile", "contentment", "amusement"),
        descriptions=("briefly smiling", "smiling faintly", "showing a flicker of joy"),
    ),
    "negative": EmotionWords(
        adjectives=("displeased", "upset", "uneasy", "dissatisfied"),
        nouns=("a negative emotion", "a fleeting frown", "displeasure", "unease"),
        descriptions=("briefly frowning", "tensing the brows", "showing a flicker of distress"),
    ),
    "repression": EmotionWords(
        adjectives=("restrained", "guarded", "self-controlled", "tight-lipped"),
        nouns=("a suppressed emotion", "restraint", "a masked feeling", "self-control"),
        descriptions=(
            "holding back an emotion",
            "pressing the lips together",
            "masking a feeling",
        ),
    ),
    "others": EmotionWords(
        adjectives=("ambiguous", "uncertain", "puzzled", "ambivalent"),
        nouns=("an ambiguous emotion", "a subtle expression", "mixed feelings", "ambivalence"),
        descriptions=(
            "twitching slightly",
            "showing a brief change of expression",
            "reacting ambiguously",
        ),
    ),
}

#: Upper age bounds (exclusive) of "young" and "middle-aged"; at or above the last is "older".
#: BU-3DFE subjects are 18–70, so the three groups are all populated there.
AGE_GROUP_BOUNDS: tuple[int, int] = (35, 55)
AGE_GROUPS: tuple[str, ...] = ("young", "middle-aged", "older")

#: Index gender code → prompt word. The scan index records ``'F'``, ``'M'`` or nothing.
GENDER_WORDS: dict[str, str] = {"F": "female", "M": "male"}

#: Noun that stands in for the gender slot when the gender is not recorded.
UNKNOWN_PERSON = "person"

#: Dataset ethnicity codes and names → prompt words. BU-3DFE codes (``WH``, ``BL``, ``AE``,
#: ``AM``, ``IN``, ``LA``) and the names the readers spell them as; keys are normalised by
#: :func:`_normalise_key` (lower case, ``_``/``-`` → space).
ETHNICITY_WORDS: dict[str, str] = {
    "wh": "white",
    "white": "white",
    "bl": "black",
    "black": "black",
    "ae": "east asian",
    "east asian": "east asian",
    "asian": "east asian",
    "am": "middle eastern",
    "middle east asian": "middle eastern",
    "middle eastern asian": "middle eastern",
    "middle eastern": "middle eastern",
    "in": "indian",
    "indian": "indian",
    "la": "latino",
    "latino": "latino",
    "hispanic": "latino",
    "hispanic/latino": "latino",
    "latino/hispanic": "latino",
}


def is_missing(value: Any) -> bool:
    """True for ``None``, ``NaN``/``pd.NA`` and blank strings: metadata that was not recorded."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaN, pd.NA compare unequal to themselves
    except TypeError:  # pd.NA raises on bool()
        return True


def emotion_words(class_name: str) -> EmotionWords:
    """The synonyms of ``class_name``, with an error that lists the known classes."""
    try:
        return EMOTION_VOCABULARY[class_name]
    except KeyError:
        raise ValueError(
            f"no vocabulary for class {class_name!r}; known: {', '.join(EMOTION_VOCABULARY)}"
        ) from None


def age_group(age: Any, bounds: tuple[int, int] = AGE_GROUP_BOUNDS) -> str | None:
    """``young`` / ``middle-aged`` / ``older`` from an age in years, ``None`` when unknown.

    Raises:
        ValueError: for a negative or non-finite age (a reader bug, not missing metadata).
    """
    if is_missing(age):
        return None
    years = float(age)
    if not math.isfinite(years) or years < 0:
        raise ValueError(f"invalid age {age!r}")
    young_below, middle_below = bounds
    if years < young_below:
        return AGE_GROUPS[0]
    if years < middle_below:
        return AGE_GROUPS[1]
    return AGE_GROUPS[2]


def gender_code(gender: Any) -> str | None:
    """Normalise an index gender value to ``'F'``/``'M'``, ``None`` when not recorded."""
    if is_missing(gender):
        return None
    text = str(gender).strip().lower()
    if text in ("f", "female", "woman"):
        return "F"
    if text in ("m", "male", "man"):
        return "M"
    raise ValueError(f"unknown gender {gender!r}; expected 'F', 'M' or None")


def gender_word(gender: Any) -> str | None:
    """``female`` / ``male`` for an index gender value, ``None`` when not recorded."""
    code = gender_code(gender)
    return None if code is None else GENDER_WORDS[code]


def _normalise_key(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").replace("-", " ").split())


def ethnicity_word(ethnicity: Any) -> str | None:
    """Prompt word for a dataset's ethnicity code or name, ``None`` when not recorded.

    Known codes and names map through :data:`ETHNICITY_WORDS`; any other recorded name is used
    as written (normalised to lower case), since it is what the dataset says about the subject.
    """
    if is_missing(ethnicity):
        return None
    key = _normalise_key(str(ethnicity))
    return ETHNICITY_WORDS.get(key, key)

"""The vocabulary covers every class, keeps classes apart, and only words recorded metadata."""

from __future__ import annotations

import math

import pytest

from facevlm.prompts.vocabulary import (
    AGE_GROUP_BOUNDS,
    AGE_GROUPS,
    EMOTION_SLOTS,
    EMOTION_VOCABULARY,
    age_group,
    emotion_words,
    ethnicity_word,
    gender_code,
    gender_word,
)
from facevlm.scans.labels import BASIC_EMOTIONS, MICRO_EXPRESSION_CLASSES, NEUTRAL

ALL_CLASSES = (*BASIC_EMOTIONS, NEUTRAL, *MICRO_EXPRESSION_CLASSES)
BU3DFE_ETHNICITY_CODES = ("WH", "BL", "AE", "AM", "IN", "LA")


@pytest.mark.parametrize("class_name", sorted(set(ALL_CLASSES)))
def test_every_class_has_words_for_every_slot(class_name: str) -> None:
    words = emotion_words(class_name)
    for slot in EMOTION_SLOTS:
        assert len(words.slot(slot)) >= 2, f"{class_name} needs synonyms for {slot}"
        assert all(w == w.strip() and w for w in words.slot(slot))


def test_no_word_belongs_to_two_classes() -> None:
    owner: dict[str, str] = {}
    for class_name, words in EMOTION_VOCABULARY.items():
        for slot in EMOTION_SLOTS:
            for word in words.slot(slot):
                assert owner.setdefault(word, class_name) == class_name, (
                    f"{word!r} is listed under {owner[word]!r} and {class_name!r}"
                )


def test_unknown_class_error_names_the_known_classes() -> None:
    with pytest.raises(ValueError, match="happiness"):
        emotion_words("contempt")


def test_age_groups_follow_age_and_switch_at_the_bounds() -> None:
    young_below, middle_below = AGE_GROUP_BOUNDS
    assert age_group(18) == age_group(young_below - 1) == AGE_GROUPS[0] == "young"
    assert age_group(young_below) == age_group(middle_below - 1) == "middle-aged"
    assert age_group(middle_below) == age_group(70) == "older"
    assert age_group(40.0) == "middle-aged"  # ages arrive as floats when a column has NaN


@pytest.mark.parametrize("unknown", [None, math.nan, ""])
def test_unrecorded_metadata_gives_no_word(unknown: object) -> None:
    assert age_group(unknown) is None
    assert gender_word(unknown) is None
    assert ethnicity_word(unknown) is None


def test_impossible_age_is_an_error_not_missing_metadata() -> None:
    with pytest.raises(ValueError):
        age_group(-3)


def test_gender_codes_become_words() -> None:
    assert (gender_word("F"), gender_word("M")) == ("female", "male")
    assert gender_code("female") == "F"
    with pytest.raises(ValueError):
        gender_word("X")


def test_bu3dfe_ethnicity_codes_map_to_distinct_words_matching_their_names() -> None:
    words = [ethnicity_word(code) for code in BU3DFE_ETHNICITY_CODES]
    assert len(set(words)) == len(BU3DFE_ETHNICITY_CODES)
    assert ethnicity_word("WH") == ethnicity_word("white")
    assert ethnicity_word("AE") == ethnicity_word("East_Asian")
    assert ethnicity_word("LA") == ethnicity_word("hispanic/latino")


def test_an_unlisted_ethnicity_name_is_used_as_recorded() -> None:
    assert ethnicity_word("Pacific Islander") == "pacific islander"

"""SMILE-VLM's pseudo-label bank: facial actions only, built from the class list alone."""

from __future__ import annotations

import inspect
import re

import pytest

from facevlm.prompts.augmented import class_prompts
from facevlm.prompts.descriptive import (
    DESCRIPTIVE_COLUMNS,
    descriptive_prompt_bank,
    generic_prompt,
)
from facevlm.prompts.vocabulary import EMOTION_VOCABULARY
from facevlm.scans.labels import BASIC_EMOTIONS, MICRO_EXPRESSION_CLASSES, NEUTRAL

ALL_CLASSES = tuple(dict.fromkeys((*BASIC_EMOTIONS, NEUTRAL, *MICRO_EXPRESSION_CLASSES)))


def _emotion_words() -> set[str]:
    """Class names and every synonym of every class: what a description must not say."""
    words = set(EMOTION_VOCABULARY)
    for entry in EMOTION_VOCABULARY.values():
        words.update(entry.adjectives, entry.nouns, entry.descriptions)
    return words


def test_bank_covers_each_class_in_order_with_the_documented_columns() -> None:
    bank = descriptive_prompt_bank(ALL_CLASSES)
    assert tuple(bank.columns) == DESCRIPTIVE_COLUMNS
    assert list(dict.fromkeys(bank["class_name"])) == list(ALL_CLASSES)
    assert (bank["kind"] == "descriptive").all()
    assert bank["prompt"].is_unique
    assert bank["prompt_id"].tolist() == list(range(len(bank)))


def test_descriptions_never_name_an_emotion() -> None:
    forbidden = _emotion_words()
    for prompt in descriptive_prompt_bank(ALL_CLASSES)["prompt"]:
        for word in forbidden:
            assert not re.search(rf"\b{re.escape(word)}\b", prompt, re.IGNORECASE), (
                f"{prompt!r} names {word!r}"
            )


def test_one_prompt_per_class_gives_k_prompts_for_k_clusters() -> None:
    bank = descriptive_prompt_bank(BASIC_EMOTIONS, max_per_class=1)
    assert bank["class_name"].tolist() == list(BASIC_EMOTIONS)


def test_the_bank_depends_on_the_class_list_only() -> None:
    # No index, no labels, no samples can be passed in: nothing per sample can leak.
    assert list(inspect.signature(descriptive_prompt_bank).parameters) == [
        "classes",
        "max_per_class",
    ]
    # A class's sentences do not depend on which other classes are present.
    full = descriptive_prompt_bank(BASIC_EMOTIONS)
    two = descriptive_prompt_bank(["surprise", "anger"])
    for name in ("surprise", "anger"):
        assert (
            full.loc[full["class_name"] == name, "prompt"].tolist()
            == two.loc[two["class_name"] == name, "prompt"].tolist()
        )


def test_zero_shot_grouping_works_on_the_descriptive_bank() -> None:
    grouped = class_prompts(descriptive_prompt_bank(MICRO_EXPRESSION_CLASSES, max_per_class=2))
    assert list(grouped) == list(MICRO_EXPRESSION_CLASSES)
    assert all(len(prompts) == 2 for prompts in grouped.values())


def test_unknown_class_and_bad_count_are_errors() -> None:
    with pytest.raises(ValueError, match="contempt"):
        descriptive_prompt_bank(["happiness", "contempt"])
    with pytest.raises(ValueError):
        descriptive_prompt_bank(BASIC_EMOTIONS, max_per_class=0)


def test_the_generic_prompt_is_one_label_free_sentence() -> None:
    text = generic_prompt()
    assert text == generic_prompt() and text.strip()
    assert not any(re.search(rf"\b{re.escape(w)}\b", text) for w in _emotion_words())
    assert text not in set(descriptive_prompt_bank(ALL_CLASSES)["prompt"])

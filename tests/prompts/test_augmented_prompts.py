"""AffectVLM's prompt bank: deterministic, complete, and faithful to the recorded metadata."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from bank_prompts import plain_label_prompts, prompts_for_index

from facevlm.prompts.augmented import (
    BANK_COLUMNS,
    PromptConfig,
    build_prompt_bank,
    class_prompts,
    plain_label_bank,
    prompts_for_sample,
)
from facevlm.prompts.vocabulary import (
    AGE_GROUPS,
    ETHNICITY_WORDS,
    GENDER_WORDS,
    age_group,
    ethnicity_word,
    gender_word,
)
from facevlm.scans.labels import BASIC_EMOTIONS, MICRO_EXPRESSION_CLASSES, NEUTRAL


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z-]*", text.lower()))


def _mentions(prompt: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", prompt) is not None


@pytest.fixture
def index() -> pd.DataFrame:
    """Four subjects with every mix of recorded and missing metadata, two scans each."""
    subjects = [
        ("F0001", "F", 22, "white"),
        ("M0001", "M", 63, "east asian"),
        ("F0002", "F", None, None),
        ("X0001", None, 45, None),
    ]
    rows = [
        {"subject": s, "gender": g, "age": a, "ethnicity": e, "expression": expression}
        for s, g, a, e in subjects
        for expression in ("happiness", "anger")
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def bank(index: pd.DataFrame) -> pd.DataFrame:
    return build_prompt_bank(index, BASIC_EMOTIONS)


def test_same_inputs_give_an_identical_bank(index: pd.DataFrame) -> None:
    config = PromptConfig(max_prompts_per_class=4, max_prompts_per_profile=2, seed=7)
    pd.testing.assert_frame_equal(
        build_prompt_bank(index, BASIC_EMOTIONS, config),
        build_prompt_bank(index.copy(), list(BASIC_EMOTIONS), config),
    )


def test_the_seed_changes_which_prompts_a_capped_bank_keeps(index: pd.DataFrame) -> None:
    banks = {
        tuple(
            build_prompt_bank(index, BASIC_EMOTIONS, PromptConfig(max_prompts_per_class=3, seed=s))[
                "prompt"
            ]
        )
        for s in range(5)
    }
    assert len(banks) > 1


def test_bank_has_the_documented_columns_and_ids(bank: pd.DataFrame) -> None:
    assert tuple(bank.columns) == BANK_COLUMNS
    assert bank["prompt_id"].tolist() == list(range(len(bank)))
    assert set(bank["kind"]) == {"class", "metadata"}


def test_bank_has_no_duplicate_prompts(bank: pd.DataFrame) -> None:
    assert bank["prompt"].is_unique


@pytest.mark.parametrize(
    "classes", [BASIC_EMOTIONS, (*BASIC_EMOTIONS, NEUTRAL), MICRO_EXPRESSION_CLASSES]
)
def test_every_class_gets_class_prompts_in_class_order(classes: tuple[str, ...]) -> None:
    bank = build_prompt_bank(None, classes, PromptConfig(max_prompts_per_class=1))
    assert list(dict.fromkeys(bank["class_name"])) == list(classes)
    per_class = bank[bank["kind"] == "class"].groupby("class_name").size()
    assert (per_class.reindex(list(classes)) == 1).all()


def test_each_prompt_uses_the_synonym_it_records(bank: pd.DataFrame) -> None:
    for prompt, synonym in zip(bank["prompt"], bank["synonym"], strict=True):
        assert synonym in prompt


def test_metadata_columns_name_exactly_what_the_prompt_mentions(bank: pd.DataFrame) -> None:
    for row in bank.itertuples():
        for column, words in (
            ("gender", {code: gender_word(code) for code in GENDER_WORDS}),
            ("age_group", {g: g for g in AGE_GROUPS}),
            ("ethnicity", {w: w for w in set(ETHNICITY_WORDS.values())}),
        ):
            value = getattr(row, column)
            mentioned = {key for key, word in words.items() if _mentions(row.prompt, word)}
            expected = set() if pd.isna(value) else {value}
            assert mentioned == expected, f"{row.prompt!r}: {column} {value!r}"
        has_metadata = row.gender, row.age_group, row.ethnicity
        assert (row.kind == "metadata") == any(pd.notna(v) for v in has_metadata)


def test_metadata_prompts_describe_profiles_that_occur_in_the_index(
    bank: pd.DataFrame, index: pd.DataFrame
) -> None:
    profiles = [
        (r.gender, age_group(r.age), ethnicity_word(r.ethnicity)) for r in index.itertuples()
    ]
    for row in bank[bank["kind"] == "metadata"].itertuples():
        wanted = (row.gender, row.age_group, row.ethnicity)
        assert any(
            all(pd.isna(w) or w == have for w, have in zip(wanted, profile, strict=True))
            for profile in profiles
        ), f"no subject in the index matches {row.prompt!r}"


def test_no_ethnicity_words_when_the_index_records_none(index: pd.DataFrame) -> None:
    bank = build_prompt_bank(index.assign(ethnicity=None), BASIC_EMOTIONS)
    assert bank["ethnicity"].isna().all()
    ethnicity_words = set(ETHNICITY_WORDS.values())
    assert not any(_mentions(p, w) for p in bank["prompt"] for w in ethnicity_words)
    assert (bank["kind"] == "metadata").any()  # gender and age are still used


def test_only_the_recorded_gender_is_mentioned(index: pd.DataFrame) -> None:
    women = index[index["gender"] == "F"]
    bank = build_prompt_bank(women, BASIC_EMOTIONS)
    assert set(bank["gender"].dropna()) == {"F"}
    assert not any(_mentions(p, "male") for p in bank["prompt"])


def test_without_metadata_the_bank_is_the_class_bank(index: pd.DataFrame) -> None:
    no_meta = build_prompt_bank(index, BASIC_EMOTIONS, PromptConfig(use_metadata=False))
    assert (no_meta["kind"] == "class").all()
    pd.testing.assert_frame_equal(no_meta, build_prompt_bank(None, BASIC_EMOTIONS))
    assert not any(_mentions(p, w) for p in no_meta["prompt"] for w in ("female", "male"))


def test_articles_agree_with_the_next_word(bank: pd.DataFrame) -> None:
    for prompt in bank["prompt"]:
        assert not re.search(r"\ba [aeiou]", prompt), prompt
        assert not re.search(r"\ban [^aeiou]", prompt), prompt
        assert "  " not in prompt and prompt == prompt.strip()


def test_caps_bound_class_and_per_profile_prompts(index: pd.DataFrame) -> None:
    config = PromptConfig(max_prompts_per_class=3, max_prompts_per_profile=2)
    bank = build_prompt_bank(index, BASIC_EMOTIONS, config)
    assert (bank[bank["kind"] == "class"].groupby("class_name").size() == 3).all()
    meta = bank[bank["kind"] == "metadata"]
    sizes = meta.groupby(["class_name", "gender", "age_group", "ethnicity"], dropna=False).size()
    assert sizes.max() == 2


def test_templates_need_exactly_one_known_emotion_slot() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        PromptConfig(templates=("a photo of a {gender}",))
    with pytest.raises(ValueError, match="unknown slot"):
        PromptConfig(templates=("a {adjective} {hairstyle}",))


def test_config_from_params_rejects_unknown_keys() -> None:
    config = PromptConfig.from_params({"templates": ["a {adjective} face"], "seed": 3})
    assert config.templates == ("a {adjective} face",)
    with pytest.raises(ValueError, match="max_prompt"):
        PromptConfig.from_params({"max_prompt": 3})


def test_a_sample_gets_prompts_of_its_class_that_agree_with_its_metadata(
    bank: pd.DataFrame,
) -> None:
    sample = {"expression": "happiness", "gender": "F", "age": 22, "ethnicity": "WH"}
    rng = np.random.default_rng(0)
    drawn = {prompts_for_sample(bank, sample, rng) for _ in range(60)}
    happiness = set(bank.loc[bank["class_name"] == "happiness", "prompt"])
    assert drawn <= happiness
    assert len(drawn) > 1
    contradicting = {"male", "older", "middle-aged", "east asian"}
    for prompt in drawn:
        assert not any(_mentions(prompt, word) for word in contradicting), prompt
    assert any(_mentions(p, "female") or _mentions(p, "young") for p in drawn)


def test_a_sample_without_metadata_falls_back_to_class_prompts(bank: pd.DataFrame) -> None:
    class_only = set(
        bank.loc[(bank["class_name"] == "anger") & (bank["kind"] == "class"), "prompt"]
    )
    rng = np.random.default_rng(1)
    sample = pd.Series({"expression": "anger", "gender": None, "age": np.nan, "ethnicity": None})
    assert {prompts_for_sample(bank, sample, rng) for _ in range(20)} <= class_only


def test_unmatched_metadata_falls_back_to_class_prompts(bank: pd.DataFrame) -> None:
    # Young and Indian, gender unknown: every young prompt here names a gender, none names Indian.
    stranger = {"expression": "fear", "gender": None, "age": 30, "ethnicity": "IN"}
    class_only = set(bank.loc[(bank["class_name"] == "fear") & (bank["kind"] == "class"), "prompt"])
    assert prompts_for_sample(bank, stranger, np.random.default_rng(0)) in class_only


def test_a_class_missing_from_the_bank_is_a_clear_error(bank: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="neutral"):
        prompts_for_sample(bank, {"expression": NEUTRAL}, np.random.default_rng(0))


def test_prompts_for_index_is_seeded_and_aligned(bank: pd.DataFrame, index: pd.DataFrame) -> None:
    shuffled = index.sample(frac=1.0, random_state=3)
    first = prompts_for_index(bank, shuffled, seed=5)
    assert first.index.equals(shuffled.index)
    pd.testing.assert_series_equal(first, prompts_for_index(bank, shuffled, seed=5))
    owner = dict(zip(bank["prompt"], bank["class_name"], strict=True))
    assert [owner[p] for p in first] == shuffled["expression"].tolist()


def test_zero_shot_prompts_are_class_prompts_per_class(bank: pd.DataFrame) -> None:
    grouped = class_prompts(bank)
    assert list(grouped) == list(BASIC_EMOTIONS)
    class_rows = bank[bank["kind"] == "class"]
    assert sum(map(len, grouped.values())) == len(class_rows)
    for prompts in grouped.values():
        assert not any(_mentions(p, w) for p in prompts for w in ("female", "male", "young"))
    assert sum(map(len, class_prompts(bank, include_metadata=True).values())) == len(bank)


def test_plain_label_prompts_name_the_class_once_each() -> None:
    prompts = plain_label_prompts(BASIC_EMOTIONS)
    assert list(prompts) == list(BASIC_EMOTIONS)
    for class_name, texts in prompts.items():
        assert len(texts) == 1
        assert _words(texts[0]) >= {class_name, "face"}
        assert len(_words(texts[0]) & set(BASIC_EMOTIONS)) == 1
    assert prompts["anger"] == ["a photo of an anger face"]
    assert tuple(plain_label_bank(BASIC_EMOTIONS).columns) == BANK_COLUMNS

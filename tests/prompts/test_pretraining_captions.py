"""Captions of the pretraining corpus: facial-action sentences from the applied action units,
augmented emotion prompts, and the long caption table built from the corpus' samples."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from facevlm.prompts.captions import (
    AT_REST,
    AU_PHRASES,
    CAPTION_COLUMNS,
    action_sentences,
    caption_samples,
    captions_by_sample,
    manifest_activations,
    web_captions,
)
from facevlm.scans.labels import NEUTRAL
from facevlm.synthetic.expressions import INTENSITY_SCALE

N_PHRASINGS = min(len(phrases) for phrases in AU_PHRASES.values())


def mentioned(sentence: str) -> list[tuple[int, int]]:
    """``(au, phrasing)`` of every AU phrase in ``sentence``, in the order they appear."""
    found = []
    for au, phrases in AU_PHRASES.items():
        for phrasing, phrase in enumerate(phrases):
            match = re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", sentence)
            if match:
                found.append((match.start(), au, phrasing))
    return [(au, phrasing) for _, au, phrasing in sorted(found)]


def mentioned_aus(sentence: str) -> list[int]:
    return [au for au, _ in mentioned(sentence)]


def strongest_first(activation: dict[int, tuple[float, float]], threshold: float) -> list[int]:
    """The AUs whose mean weight reaches ``threshold``, strongest first (expectation)."""
    means = {au: (left + right) / 2 for au, (left, right) in activation.items()}
    visible = [au for au, mean in means.items() if mean >= threshold]
    return sorted(visible, key=lambda au: -means[au])


# ---------------------------------------------------------------------------------------------
# action_sentences


def test_faint_action_units_are_not_mentioned():
    activation = {12: (1.0, 0.8), 6: (0.5, 0.5), 4: (0.1, 0.3), 9: (0.2, 0.2)}

    sentences = action_sentences(activation, threshold=0.3)

    assert sentences
    for sentence in sentences:
        assert sorted(mentioned_aus(sentence)) == [6, 12]


def test_the_threshold_applies_to_the_mean_of_left_and_right():
    # AU12 is strong on one side only (mean 0.25); AU6 is at the threshold exactly (mean 0.3)
    activation = {12: (0.5, 0.0), 6: (0.3, 0.3), 26: (0.0, 0.6)}

    sentences = action_sentences(activation, threshold=0.3)

    for sentence in sentences:
        assert sorted(mentioned_aus(sentence)) == [6, 26]


def test_action_units_are_named_strongest_first():
    activation = {25: (0.4, 0.4), 12: (1.3, 1.2), 6: (0.7, 0.8)}

    sentences = action_sentences(activation)

    assert sentences
    for sentence in sentences:
        assert mentioned_aus(sentence) == [12, 6, 25]


def test_every_phrasing_gets_a_sentence_that_uses_only_that_phrasing():
    activation = {1: (0.9, 0.9), 5: (0.6, 0.6)}

    sentences = action_sentences(activation)

    assert len(sentences) == N_PHRASINGS
    for phrasing, sentence in enumerate(sentences):
        assert sentence.startswith("a face with ")
        assert mentioned(sentence) == [(1, phrasing), (5, phrasing)]


def test_one_visible_action_unit_is_named_alone():
    sentences = action_sentences({43: (1.0, 1.0)})

    assert sentences == [f"a face with {phrase}" for phrase in AU_PHRASES[43][:N_PHRASINGS]]


def test_many_visible_action_units_also_give_short_sentences_with_the_strongest():
    activation = {
        4: (1.2, 1.2),
        7: (1.0, 1.0),
        23: (0.9, 0.9),
        5: (0.5, 0.5),
        24: (0.4, 0.4),
    }
    expected_order = strongest_first(activation, 0.3)

    sentences = action_sentences(activation, most=3)

    full = [s for s in sentences if len(mentioned_aus(s)) == len(activation)]
    short = [s for s in sentences if len(mentioned_aus(s)) == 3]
    assert len(full) == N_PHRASINGS
    assert len(short) == N_PHRASINGS
    assert len(full) + len(short) == len(sentences)
    assert sentences[: len(full)] == full, "the complete sentences come first"
    for sentence in full:
        assert mentioned_aus(sentence) == expected_order
    for sentence in short:
        assert mentioned_aus(sentence) == expected_order[:3]


def test_most_sets_how_many_action_units_the_short_sentences_keep():
    activation = {12: (1.0, 1.0), 6: (0.8, 0.8), 25: (0.6, 0.6)}

    sentences = action_sentences(activation, most=1)

    counts = sorted(len(mentioned_aus(s)) for s in sentences)
    assert counts == [1] * N_PHRASINGS + [3] * N_PHRASINGS
    assert {tuple(mentioned_aus(s)) for s in sentences if len(mentioned_aus(s)) == 1} == {(12,)}


def test_no_short_sentences_when_few_action_units_are_visible():
    activation = {12: (1.0, 1.0), 6: (0.8, 0.8), 25: (0.6, 0.6)}

    sentences = action_sentences(activation, most=3)

    assert len(sentences) == N_PHRASINGS
    assert all(len(mentioned_aus(s)) == 3 for s in sentences)


@pytest.mark.parametrize(
    "activation",
    [
        {},
        {12: (0.1, 0.1), 6: (0.29, 0.29)},
        {99: (1.0, 1.0)},  # an action unit without a phrase is never mentioned
    ],
    ids=["empty", "too-faint", "unknown-au"],
)
def test_a_face_without_visible_action_units_is_at_rest(activation):
    assert action_sentences(activation) == list(AT_REST)


@pytest.mark.parametrize("n_aus", [1, 3, 4, 8])
def test_sentences_are_unique(n_aus):
    aus = sorted(AU_PHRASES)[:n_aus]
    activation = {au: (1.0 - 0.05 * i, 1.0 - 0.05 * i) for i, au in enumerate(aus)}

    sentences = action_sentences(activation)

    assert len(sentences) == len(set(sentences))


# ---------------------------------------------------------------------------------------------
# manifest_activations


def test_manifest_recipes_become_activations_per_subject_and_emotion():
    manifest = {
        "layouts": {
            "bu3dfe": {
                "subjects": [
                    {
                        "subject": "F0001",
                        "recipes": {"happiness": {"AU12": [1.3, 1.2], "AU6": [0.7, 0.8]}},
                    },
                    {
                        "subject": "M0002",
                        "recipes": {
                            "anger": {"AU4": [1.1, 1.0]},
                            "surprise": {"AU26": [0.9, 0.9]},
                        },
                    },
                ]
            }
        }
    }

    activations = manifest_activations(manifest)

    assert activations == {
        ("F0001", "happiness"): {12: (1.3, 1.2), 6: (0.7, 0.8)},
        ("M0002", "anger"): {4: (1.1, 1.0)},
        ("M0002", "surprise"): {26: (0.9, 0.9)},
    }


@pytest.mark.parametrize(
    "manifest",
    [{}, {"layouts": {}}, {"layouts": {"bp4d": {"subjects": [{"subject": "F001"}]}}}],
    ids=["no-layouts", "empty-layouts", "no-bu3dfe"],
)
def test_a_manifest_without_bu3dfe_recipes_gives_no_activations(manifest):
    assert manifest_activations(manifest) == {}


# ---------------------------------------------------------------------------------------------
# caption_samples

CLASSES = [NEUTRAL, "happiness", "anger"]

#: Full-intensity recipes. At level 1 (x0.4) AU12 (0.5) and AU26 (0.36) stay visible, AU6
#: (0.24) and AU25 (0.2) fall below the 0.3 threshold.
RECIPES = {
    ("F0001", "happiness"): {12: (1.3, 1.2), 6: (0.6, 0.6), 25: (0.5, 0.5), 26: (0.9, 0.9)},
    ("F0001", "anger"): {4: (1.2, 1.2), 7: (1.0, 1.0), 23: (0.9, 0.9), 24: (0.8, 0.8)},
}


def _samples() -> pd.DataFrame:
    rows = [
        ("F0001_NE00", "F0001", NEUTRAL, 0, "female"),
        ("F0001_HA01", "F0001", "happiness", 1, "female"),
        ("F0001_HA04", "F0001", "happiness", 4, "female"),
        ("F0001_AN04", "F0001", "anger", 4, "female"),
        ("F0001_SU04", "F0001", "surprise", 4, "female"),  # not a class
        ("M0002_HA04", "M0002", "happiness", 4, "male"),  # no recipe
        ("M0002_AN02", "M0002", "anger", 2, "male"),  # no recipe
    ]
    return pd.DataFrame(
        [
            {
                "sample_id": sample_id,
                "subject": subject,
                "expression": expression,
                "intensity": intensity,
                "gender": gender,
                "age": None,
                "ethnicity": "white",
            }
            for sample_id, subject, expression, intensity, gender in rows
        ]
    )


@pytest.fixture(scope="module")
def captions() -> pd.DataFrame:
    return caption_samples(_samples(), RECIPES, CLASSES)


def _of(captions: pd.DataFrame, sample_id: str, kind: str) -> list[str]:
    rows = captions[(captions["sample_id"] == sample_id) & (captions["kind"] == kind)]
    return list(rows["caption"])


def _aus_of(captions: pd.DataFrame, sample_id: str) -> set[int]:
    return {au for c in _of(captions, sample_id, "action") for au in mentioned_aus(c)}


def test_caption_table_has_the_caption_columns(captions):
    assert tuple(captions.columns) == CAPTION_COLUMNS
    assert set(captions["kind"]) == {"emotion", "action"}


def test_expressions_outside_the_classes_are_left_out(captions):
    assert "F0001_SU04" not in set(captions["sample_id"])
    assert set(captions["expression"]) <= set(CLASSES)
    kept = _samples().query("expression in @CLASSES")
    assert set(captions["sample_id"]) == set(kept["sample_id"])


def test_every_kept_sample_has_emotion_captions(captions):
    for sample_id in _samples().query("expression in @CLASSES")["sample_id"]:
        assert _of(captions, sample_id, "emotion"), sample_id


def test_each_caption_row_carries_its_samples_expression(captions):
    expression_of = dict(zip(_samples()["sample_id"], _samples()["expression"], strict=True))
    for sample_id, expression in zip(captions["sample_id"], captions["expression"], strict=True):
        assert expression == expression_of[sample_id]


def test_emotion_captions_of_different_emotions_never_coincide(captions):
    happy = set(_of(captions, "F0001_HA04", "emotion"))
    angry = set(_of(captions, "F0001_AN04", "emotion"))
    assert happy and angry
    assert not happy & angry


def test_emotion_captions_mention_only_the_recorded_gender(captions):
    assert any(re.search(r"\bfemale\b", c) for c in _of(captions, "F0001_HA04", "emotion"))
    assert any(re.search(r"\bmale\b", c) for c in _of(captions, "M0002_HA04", "emotion"))
    for caption in _of(captions, "F0001_HA04", "emotion"):
        assert not re.search(r"\b(male|man)\b", caption), caption
    for caption in _of(captions, "M0002_HA04", "emotion"):
        assert not re.search(r"\b(female|woman)\b", caption), caption


def test_action_captions_describe_the_recipe_scaled_by_intensity(captions):
    recipe = RECIPES[("F0001", "happiness")]
    for sample_id, level in [("F0001_HA01", 1), ("F0001_HA04", 4)]:
        factor = INTENSITY_SCALE[level]
        scaled = {au: (left * factor, right * factor) for au, (left, right) in recipe.items()}
        expected = strongest_first(scaled, 0.3)

        actions = _of(captions, sample_id, "action")

        assert actions, sample_id
        assert _aus_of(captions, sample_id) == set(expected)
        for caption in actions:  # strongest first, and the short forms are prefixes
            assert mentioned_aus(caption) == expected[: len(mentioned_aus(caption))]


def test_a_weaker_intensity_mentions_no_more_action_units(captions):
    weak = _aus_of(captions, "F0001_HA01")
    strong = _aus_of(captions, "F0001_HA04")
    assert weak <= strong
    assert len(weak) < len(strong)  # this recipe has AUs that fade below the threshold


def test_neutral_samples_are_captioned_at_rest(captions):
    assert _of(captions, "F0001_NE00", "action") == list(AT_REST)


def test_a_sample_without_a_recipe_gets_emotion_captions_only(captions):
    for sample_id in ["M0002_HA04", "M0002_AN02"]:
        assert _of(captions, sample_id, "emotion")
        assert _of(captions, sample_id, "action") == []


def test_a_sample_without_an_intensity_gets_emotion_captions_only():
    samples = _samples()
    samples["intensity"] = samples["intensity"].astype(object)
    samples.loc[samples["sample_id"] == "F0001_HA04", "intensity"] = None

    captions = caption_samples(samples, RECIPES, CLASSES)

    assert _of(captions, "F0001_HA04", "emotion")
    assert _of(captions, "F0001_HA04", "action") == []


def test_a_given_intensity_scale_replaces_the_generators():
    scale = {0: 0.0, 1: 0.0, 2: 0.55, 3: 0.55, 4: 0.55}

    captions = caption_samples(_samples(), RECIPES, CLASSES, intensity_scale=scale)

    assert _of(captions, "F0001_HA01", "action") == list(AT_REST)  # every AU scaled to 0
    recipe = RECIPES[("F0001", "happiness")]
    scaled = {au: (left * 0.55, right * 0.55) for au, (left, right) in recipe.items()}
    assert _aus_of(captions, "F0001_HA04") == set(strongest_first(scaled, 0.3))


def test_captioning_is_deterministic(captions):
    again = caption_samples(_samples(), RECIPES, CLASSES)
    pd.testing.assert_frame_equal(captions, again)


def test_captions_of_a_sample_are_unique_per_kind(captions):
    duplicated = captions.duplicated(["sample_id", "kind", "caption"])
    assert not duplicated.any(), captions[duplicated]


# ---------------------------------------------------------------------------------------------
# captions_by_sample


def test_captions_are_grouped_by_sample_in_table_order():
    table = pd.DataFrame(
        {
            "sample_id": ["b", "a", "b", "a", "c"],
            "expression": ["anger"] * 5,
            "caption": ["b1", "a1", "b2", "a2", "c1"],
            "kind": ["emotion", "emotion", "action", "action", "emotion"],
        }
    )

    grouped = captions_by_sample(table)

    assert grouped == {"b": ["b1", "b2"], "a": ["a1", "a2"], "c": ["c1"]}
    assert list(grouped) == ["b", "a", "c"]


def test_grouping_the_caption_table_keeps_every_caption(captions):
    grouped = captions_by_sample(captions)

    assert set(grouped) == set(captions["sample_id"])
    assert sum(len(v) for v in grouped.values()) == len(captions)
    expected = list(captions.loc[captions["sample_id"] == "F0001_HA04", "caption"])
    assert grouped["F0001_HA04"] == expected
    assert all(isinstance(k, str) for k in grouped)


def test_web_captions_do_not_depend_on_the_order_of_the_recorded_action_units():
    """A freshly generated manifest and the same manifest read back from JSON list a scan's
    units in different orders; the captions (and so the pretraining cache key) must agree."""
    sample = {
        "sample_id": "synthetic-bu3dfe/F5001/F5001_AN03WH_F3D",
        "subject": "F5001",
        "expression": "anger",
        "gender": "F",
        "intensity": 3,
    }
    activation = {4: (1.1, 1.0), 5: (0.5, 0.4), 7: (0.9, 0.9), 23: (1.0, 1.0), 24: (0.8, 0.7)}
    reordered = dict(sorted(activation.items(), key=lambda item: str(item[0])))
    assert list(reordered) != list(activation)

    assert web_captions(sample, activation, ["anger", "fear"]) == web_captions(
        sample, reordered, ["anger", "fear"]
    )


def test_each_scan_of_a_subjects_expression_draws_its_own_alt_text():
    """Ids that differ only in the intensity level get independent draws (a seed taken from
    a slice of the id once gave all four levels the same alt text)."""
    same = 0
    for subject in range(40):
        alts = {
            web_captions(
                {
                    "sample_id": f"synthetic-bu3dfe/F{5001 + subject}/F{5001 + subject}_AN0{level}WH_F3D",
                    "expression": "anger",
                },
                None,
                ["anger", "disgust"],
            )[0][0]
            for level in (1, 2, 3, 4)
        }
        same += len(alts) == 1
    assert same < 10

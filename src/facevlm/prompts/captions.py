"""Captions for the synthetic pretraining corpus: what the face does, in words, per scan.

Why: both papers start from CLIP towers that already know what "a smiling face" or "raised
eyebrows" look like. On a CPU without network access there are no such weights, and a tiny
backbone trained from scratch on 150 scans neither generalises to new subjects nor has a text
tower that knows any expression word, so zero-shot scoring is at chance. The ``pretrain``
pipeline therefore gives the tiny backbone the kind of knowledge web pretraining gives CLIP: it
renders a *separate* synthetic corpus (other identities, other seed — never the evaluation
subjects) and trains image and text towers on these captions.

A scan gets several captions, one is drawn each time it is seen:

- augmented emotion prompts (:mod:`facevlm.prompts.augmented`: templates × synonyms × the
  subject's recorded gender, age group and ethnicity), like an alt text naming the feeling;
- facial-action sentences built from the action units the generator actually applied to this
  scan (its subject's recipe scaled by the intensity level), strongest first, in several
  phrasings — like a description of what is visible. This is what teaches the text tower that
  "pulled-up lip corners" and "a happy face" belong together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from facevlm.digests import text_digest
from facevlm.prompts.augmented import PromptConfig, build_prompt_bank, candidate_prompts
from facevlm.prompts.vocabulary import is_missing
from facevlm.scans.labels import NEUTRAL

#: Plain-English phrasings of each action unit the synthetic generator animates (FACS number).
AU_PHRASES: dict[int, tuple[str, ...]] = {
    1: ("raised inner eyebrows", "inner brows lifted"),
    2: ("raised outer eyebrows", "arched brows"),
    4: ("lowered, drawn-together eyebrows", "a furrowed brow"),
    5: ("wide-open eyes", "raised upper eyelids"),
    6: ("raised cheeks", "lifted cheeks"),
    7: ("tightened eyelids", "narrowed eyes"),
    9: ("a wrinkled nose", "a scrunched-up nose"),
    10: ("a raised upper lip", "a lifted upper lip"),
    12: ("pulled-up lip corners", "upturned mouth corners"),
    14: ("dimpled cheeks", "tucked-in lip corners"),
    15: ("lowered lip corners", "a downturned mouth"),
    17: ("a raised chin", "a pushed-up chin"),
    20: ("lips stretched sideways", "a widened, tense mouth"),
    23: ("tightened lips", "thin, tense lips"),
    24: ("pressed lips", "lips pressed together"),
    25: ("parted lips", "slightly open lips"),
    26: ("a dropped jaw", "an open mouth"),
    27: ("a wide-stretched mouth", "a mouth opened wide"),
    43: ("closed eyes", "shut eyelids"),
}

#: Sentences for a face with no action unit above the threshold.
AT_REST: tuple[str, ...] = (
    "a face at rest with relaxed brows and closed lips",
    "a relaxed face with a closed mouth and calm eyes",
)

#: What a web caption may say about the skin when these units are strong (mean weight >= 0.6):
#: the folds and furrows the generator forms with them.
APPEARANCE_PHRASES: dict[int, str] = {
    1: "lines across the forehead",
    4: "deep furrows between the brows",
    6: "crow's feet at the corners of the eyes",
    9: "wrinkles on the bridge of the nose",
    12: "deep folds from the nose to the mouth",
    17: "a dimpled chin",
    20: "creases beside the mouth corners",
}

#: Alt texts of web photos that say nothing about the expression (``{person}`` is filled in).
WEB_ALT_TEXTS: tuple[str, ...] = (
    "a 3D scan of {person}'s face",
    "close-up portrait of {person}",
    "{person}, head and shoulders, studio shot",
    "face of {person} in a photo",
    "a picture of {person}",
    "a photo of a face",
    "frontal face image",
    "a face in the lab",
)

#: Vague stand-ins for an emotion word.
WEB_VAGUE: tuple[str, ...] = (
    "an expressive face",
    "{person} making a face",
    "{person} reacting to something",
    "a face showing some emotion",
    "an intense look",
)

#: Emotion words of the web captions (one per class; neutral included).
WEB_EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "neutral": ("neutral", "calm", "expressionless"),
    "anger": ("angry", "furious", "mad"),
    "disgust": ("disgusted", "grossed out", "repulsed"),
    "fear": ("scared", "afraid", "frightened"),
    "happiness": ("happy", "smiling", "joyful"),
    "sadness": ("sad", "unhappy", "gloomy"),
    "surprise": ("surprised", "amazed", "astonished"),
}

#: Odds of the web alt texts: naming the emotion at all, and of those, wrongly or vaguely.
WEB_NAMED_SHARE = 0.6
WEB_WRONG_SHARE = 0.1
WEB_VAGUE_SHARE = 0.1

#: Columns of :func:`caption_samples`' table.
CAPTION_COLUMNS: tuple[str, ...] = ("sample_id", "expression", "caption", "kind")

#: ``AU -> (left, right)`` activations, as the generator's manifest records them.
Activation = Mapping[int, tuple[float, float]]


def _join(phrases: Sequence[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def action_sentences(activation: Activation, threshold: float = 0.3, most: int = 3) -> list[str]:
    """Sentences describing the visible action units of one face, strongest first.

    Args:
        activation: ``AU -> (left, right)`` weights actually applied to the face.
        threshold: an AU whose mean weight is below this is too faint to mention.
        most: the short sentences mention only the ``most`` strongest AUs.

    Returns:
        One sentence per phrasing with every visible AU, plus the same with only the strongest
        ``most`` (when that differs); the at-rest sentences when nothing is visible.
    """
    visible = sorted(
        ((float(np.mean(w)), int(au)) for au, w in activation.items() if int(au) in AU_PHRASES),
        reverse=True,
    )
    visible = [(w, au) for w, au in visible if w >= threshold]
    if not visible:
        return list(AT_REST)
    sentences: list[str] = []
    n_phrasings = min(len(p) for p in AU_PHRASES.values())
    for k in sorted({len(visible), min(most, len(visible))}, reverse=True):
        for phrasing in range(n_phrasings):
            text = "a face with " + _join([AU_PHRASES[au][phrasing] for _, au in visible[:k]])
            if text not in sentences:
                sentences.append(text)
    return sentences


class ManifestActivations(dict):
    """The activations of a synthetic set (a plain dict) and the caption ``style`` its
    configuration asks for (``captions``: ``lab`` or ``web``), which decides how
    :func:`caption_samples` words its captions."""

    style: str = "lab"


def _activation(record: Mapping[str, Any]) -> Activation:
    return {int(str(au).removeprefix("AU")): (float(w[0]), float(w[1])) for au, w in record.items()}


def manifest_activations(manifest: Mapping[str, Any]) -> ManifestActivations:
    """Activations recorded in a synthetic set's manifest.

    Keys ``(subject, emotion)``: the subject's own recipe at full intensity (``lab`` sets).
    Keys ``(subject, emotion, level)``: the activation actually applied to that scan (sets that
    record one per scan; ``web`` renditions are drawn per scan, so only these describe them).
    """
    from facevlm.synthetic.layout_writers import BU3DFE_CODES

    emotion_of = {code: emotion for emotion, code in BU3DFE_CODES.items()}
    layouts = manifest.get("layouts", {})
    recipes = ManifestActivations()
    recipes.style = str(manifest.get("config", {}).get("captions", "lab"))
    for subject in layouts.get("bu3dfe", {}).get("subjects", []):
        for emotion, recipe in subject.get("recipes", {}).items():
            recipes[(subject["subject"], emotion)] = _activation(recipe)
        for stem, record in subject.get("activations", {}).items():
            code = str(stem).split("_")[1]
            emotion = emotion_of.get(code[:2])
            if emotion is not None:
                recipes[(subject["subject"], emotion, int(code[2:4]))] = _activation(record)
    return recipes


def _scaled(activation: Activation, factor: float) -> dict[int, tuple[float, float]]:
    return {au: (left * factor, right * factor) for au, (left, right) in activation.items()}


def caption_samples(
    samples: pd.DataFrame,
    activations: Mapping[tuple, Activation],
    classes: Sequence[str],
    intensity_scale: Mapping[int, float] | None = None,
    prompts: PromptConfig | None = None,
    style: str | None = None,
) -> pd.DataFrame:
    """Every caption of every sample whose expression is one of ``classes``.

    Args:
        samples: the corpus' render samples (``sample_id``, ``subject``, ``expression``,
            ``intensity``, and ``gender``/``age``/``ethnicity`` when recorded).
        activations: ``(subject, emotion) -> activation at full intensity``
            (:func:`manifest_activations`); a sample without one gets emotion prompts only.
        classes: the expressions to caption (``neutral`` included if wanted); the others are
            left out of the corpus.
        intensity_scale: level → factor applied to the full-intensity recipe (default: the
            generator's :data:`~facevlm.synthetic.expressions.INTENSITY_SCALE`).
        prompts: templates and caps of the augmented emotion prompts.
        style: ``lab`` (every sample gets its clean emotion prompts and exact action
            sentences) or ``web`` (:func:`web_captions`: alt texts that name the emotion only
            now and then, sometimes wrongly or vaguely, and loose descriptions of the face);
            default: the ``style`` of ``activations`` (:class:`ManifestActivations`), else lab.

    Returns:
        A long table with :data:`CAPTION_COLUMNS`: one row per (sample, caption), ``kind``
        ``emotion`` or ``action``. Deterministic.
    """
    if intensity_scale is None:
        from facevlm.synthetic.expressions import INTENSITY_SCALE as intensity_scale
    style = getattr(activations, "style", "lab") if style is None else style
    if style not in ("lab", "web"):
        raise ValueError(f"caption style must be 'lab' or 'web', got {style!r}")
    kept = samples[samples["expression"].isin(list(classes))]
    bank = build_prompt_bank(kept, list(classes), prompts)
    rows: list[dict[str, Any]] = []
    for sample in kept.to_dict("records"):
        applied = _applied(sample, activations, intensity_scale)
        if style == "web":
            alt, described = web_captions(sample, applied, list(classes))
            rows.extend(_caption_row(sample, caption, "emotion") for caption in alt)
            rows.extend(_caption_row(sample, caption, "action") for caption in described)
            continue
        for caption in candidate_prompts(bank, sample):
            rows.append(_caption_row(sample, caption, "emotion"))
        if str(sample["expression"]) == NEUTRAL:
            action = list(AT_REST)
        else:
            action = [] if applied is None else action_sentences(applied)
        rows.extend(_caption_row(sample, caption, "action") for caption in action)
    return pd.DataFrame.from_records(rows, columns=list(CAPTION_COLUMNS))


def _applied(
    sample: Mapping[str, Any],
    activations: Mapping[tuple, Activation],
    intensity_scale: Mapping[int, float],
) -> Activation | None:
    """The activation applied to this sample's scan: recorded per scan, else the subject's
    full-intensity recipe scaled by the level; None when neither is known."""
    subject, expression, level = str(sample["subject"]), str(sample["expression"]), None
    if not is_missing(sample.get("intensity")):
        level = int(sample["intensity"])
        exact = activations.get((subject, expression, level))
        if exact is not None:
            return exact
    recipe = activations.get((subject, expression))
    if recipe is None or level is None:
        return None
    return _scaled(recipe, intensity_scale.get(level, 1.0))


def _person(sample: Mapping[str, Any], rng: np.random.Generator) -> str:
    gender = sample.get("gender")
    if is_missing(gender) or rng.random() < 0.3:
        return str(rng.choice(["a person", "someone", "an adult"]))
    woman = str(gender).lower() in ("female", "f", "woman")
    return str(rng.choice(["a woman", "a lady"] if woman else ["a man", "a guy"]))


def _sample_seed(sample_id: str) -> int:
    """A seed that depends on every character of ``sample_id``, stable across processes.

    Why a digest: a seed taken from a slice of the id's bytes ignored the rest, so the four
    intensity levels of a subject's expression drew the same alt text.
    """
    return int(text_digest(sample_id, "blake2b-64"), 16)


def web_captions(
    sample: Mapping[str, Any], activation: Activation | None, classes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Web-style captions of one sample: ``(alt texts, descriptions)``, deterministic per
    sample id.

    Alt texts: with :data:`WEB_NAMED_SHARE` one of them names an emotion, and of those
    :data:`WEB_WRONG_SHARE` name the wrong one and :data:`WEB_VAGUE_SHARE` only a vague
    feeling; the rest say who is in the picture and nothing about the expression.
    Descriptions: the visible action units in a shuffled order, one of them sometimes left
    out, and the folds and furrows that strong units form (:data:`APPEARANCE_PHRASES`).
    """
    rng = np.random.default_rng(_sample_seed(str(sample["sample_id"])))
    person = _person(sample, rng)
    expression = str(sample["expression"])
    picks = rng.choice(len(WEB_ALT_TEXTS), size=2, replace=False)
    alt = [WEB_ALT_TEXTS[int(i)].format(person=person) for i in picks]
    if rng.random() < WEB_NAMED_SHARE:
        draw = rng.random()
        if draw < WEB_VAGUE_SHARE:
            alt = [str(rng.choice(WEB_VAGUE)).format(person=person)]
        else:
            named = expression
            if draw < WEB_VAGUE_SHARE + WEB_WRONG_SHARE:
                named = str(rng.choice([c for c in classes if c != expression]))
            word = str(rng.choice(WEB_EMOTION_WORDS.get(named, (named,))))
            template = str(rng.choice(["{p} looking {w}", "{a} {w} face", "{p}, {w}"]))
            article = "an" if word[0] in "aeiou" else "a"
            alt = [template.format(p=person, w=word, a=article)]
    described: list[str] = []
    if activation is not None:
        # sorted by unit: the manifest's key order differs between a freshly generated set and
        # one read back from JSON, and the draws below must not depend on it
        visible = [
            (au, float(np.mean(w)))
            for au, w in sorted(activation.items())
            if au in AU_PHRASES and float(np.mean(w)) >= 0.3
        ]
        order = rng.permutation(len(visible))
        visible = [visible[int(i)] for i in order]
        if len(visible) > 1 and rng.random() < 0.4:
            visible = visible[1:]
        phrasing = int(rng.integers(2))
        phrases = [AU_PHRASES[au][phrasing] for au, _ in visible]
        phrases += [
            APPEARANCE_PHRASES[au] for au, w in visible if au in APPEARANCE_PHRASES and w >= 0.6
        ]
        if phrases:
            described.append(str(rng.choice(["a face with ", "", "close-up: "])) + _join(phrases))
    if not described:
        described = [str(rng.choice(AT_REST))]
    return alt, described


def _caption_row(sample: Mapping[str, Any], caption: str, kind: str) -> dict[str, Any]:
    return {
        "sample_id": sample["sample_id"],
        "expression": sample["expression"],
        "caption": caption,
        "kind": kind,
    }


def captions_by_sample(captions: pd.DataFrame, kind: str | None = None) -> dict[str, list[str]]:
    """``sample_id -> [caption, ...]`` in table order (what training draws from); with ``kind``
    (``emotion`` | ``action``) only the captions of that kind."""
    if kind is not None:
        captions = captions[captions["kind"] == kind]
    grouped: dict[str, list[str]] = {}
    for sample_id, caption in zip(captions["sample_id"], captions["caption"], strict=True):
        grouped.setdefault(str(sample_id), []).append(str(caption))
    return grouped

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

from facevlm.data.labels import NEUTRAL
from facevlm.prompts.augmented import PromptConfig, build_prompt_bank, candidate_prompts
from facevlm.prompts.vocabulary import is_missing

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


def manifest_activations(manifest: Mapping[str, Any]) -> dict[tuple[str, str], Activation]:
    """``(subject, emotion) -> activation at full intensity`` from a synthetic set's manifest.

    The BU-3DFE-style part of the manifest records each subject's own recipe per emotion
    (``{"AU12": [1.34, 1.28], ...}``), so captions describe what was really applied.
    """
    layouts = manifest.get("layouts", {})
    recipes: dict[tuple[str, str], Activation] = {}
    for subject in layouts.get("bu3dfe", {}).get("subjects", []):
        for emotion, recipe in subject.get("recipes", {}).items():
            recipes[(subject["subject"], emotion)] = {
                int(str(au).removeprefix("AU")): (float(w[0]), float(w[1]))
                for au, w in recipe.items()
            }
    return recipes


def _scaled(activation: Activation, factor: float) -> dict[int, tuple[float, float]]:
    return {au: (left * factor, right * factor) for au, (left, right) in activation.items()}


def caption_samples(
    samples: pd.DataFrame,
    activations: Mapping[tuple[str, str], Activation],
    classes: Sequence[str],
    intensity_scale: Mapping[int, float] | None = None,
    prompts: PromptConfig | None = None,
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
            generator's :data:`~facevlm.data.synthetic.expressions.INTENSITY_SCALE`).
        prompts: templates and caps of the augmented emotion prompts.

    Returns:
        A long table with :data:`CAPTION_COLUMNS`: one row per (sample, caption), ``kind``
        ``emotion`` or ``action``. Deterministic.
    """
    if intensity_scale is None:
        from facevlm.data.synthetic.expressions import INTENSITY_SCALE as intensity_scale
    kept = samples[samples["expression"].isin(list(classes))]
    bank = build_prompt_bank(kept, list(classes), prompts)
    rows: list[dict[str, Any]] = []
    for sample in kept.to_dict("records"):
        expression = str(sample["expression"])
        for caption in candidate_prompts(bank, sample):
            rows.append(_caption_row(sample, caption, "emotion"))
        if expression == NEUTRAL:
            action = list(AT_REST)
        else:
            recipe = activations.get((str(sample["subject"]), expression))
            level = sample.get("intensity")
            if recipe is None or is_missing(level):
                action = []
            else:
                action = action_sentences(_scaled(recipe, intensity_scale.get(int(level), 1.0)))
        rows.extend(_caption_row(sample, caption, "action") for caption in action)
    return pd.DataFrame.from_records(rows, columns=list(CAPTION_COLUMNS))


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

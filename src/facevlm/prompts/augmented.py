"""AffectVLM's augmented textual prompts: templates × emotion synonyms × subject metadata.

A label such as ``happiness`` becomes many prompts ("a joyful expression of a young female",
"an older male smiling", "a 3D scan of a face showing delight"), so the text tower sees varied
language for the same class and can tie expressions to who shows them. The bank is built once,
before training, from the scan index; no LLM runs at any point.

Two kinds of prompt live in one bank:

- ``class`` prompts mention the emotion only. They exist for every class whatever the index
  records, and the zero-shot classifier averages them per class (:func:`class_prompts`).
- ``metadata`` prompts also mention the gender, age group and/or ethnicity of a subject profile
  that occurs in the index. Only recorded metadata is used: a slot whose value is unknown is left
  out of the sentence (the gender slot falls back to "person"), and a bank built from an index
  without ethnicity holds no ethnicity words.

The bank columns are :data:`BANK_COLUMNS`; its metadata columns hold the values the prompt
mentions (``gender`` as the index code ``'F'``/``'M'``, ``age_group`` and ``ethnicity`` as the
prompt words) and are missing for what it does not mention. A training sample gets a prompt
whose every mention agrees with the sample (:func:`prompts_for_sample`).

Example::

    bank = build_prompt_bank(index, BASIC_EMOTIONS, PromptConfig(seed=0))
    text = prompts_for_sample(bank, index.iloc[0], np.random.default_rng(0))
    zero_shot = class_prompts(bank)  # {"anger": [...], ...}
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from facevlm.prompts.vocabulary import (
    EMOTION_SLOTS,
    METADATA_SLOTS,
    UNKNOWN_PERSON,
    age_group,
    emotion_words,
    ethnicity_word,
    gender_code,
    gender_word,
    is_missing,
)

#: Columns of every prompt bank (augmented, plain-label and, in part, descriptive).
BANK_COLUMNS: tuple[str, ...] = (
    "prompt_id",
    "class_name",
    "prompt",
    "template",
    "synonym",
    "gender",
    "age_group",
    "ethnicity",
    "kind",
)

#: Bank columns that describe the subject a prompt mentions.
PROFILE_COLUMNS: tuple[str, ...] = ("gender", "age_group", "ethnicity")

#: Default AffectVLM templates. Each has exactly one emotion slot ({adjective}, {noun} or
#: {description}); {age}, {gender} and {ethnicity} are optional metadata slots.
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {adjective} face",
    "a {adjective} facial expression",
    "a 3D scan of a face showing {noun}",
    "a rendered 3D face expressing {noun}",
    "a person {description}",
    "a {adjective} expression of a {age} {gender}",
    "a {age} {gender} {description}",
    "a {ethnicity} {gender} looking {adjective}",
    "a 3D face of a {gender} showing {noun}",
    "a close-up of a {age} {ethnicity} {gender} with a {adjective} face",
)

#: Template of the "plain label prompts" ablation: the class name and nothing else.
PLAIN_LABEL_TEMPLATE = "a photo of a {label} face"


def _template_slots(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def validate_template(template: str) -> None:
    """Reject templates the builder cannot fill unambiguously.

    Raises:
        ValueError: on an unknown slot, or unless exactly one emotion slot is present (a
            template without one would give every class the same prompt).
    """
    slots = _template_slots(template)
    unknown = sorted(set(slots) - set(EMOTION_SLOTS) - set(METADATA_SLOTS))
    if unknown:
        raise ValueError(f"template {template!r} has unknown slot(s) {unknown}")
    emotion = [slot for slot in slots if slot in EMOTION_SLOTS]
    if len(emotion) != 1:
        raise ValueError(
            f"template {template!r} needs exactly one of {{{'}, {'.join(EMOTION_SLOTS)}}}, "
            f"found {len(emotion)}"
        )


@dataclass(frozen=True)
class PromptConfig:
    """How the augmented prompt bank is built.

    Attributes:
        templates: sentence templates, see :data:`DEFAULT_TEMPLATES`.
        use_metadata: add ``metadata`` prompts for the subject profiles found in the index;
            off gives class prompts only (the "no metadata" ablation).
        max_prompts_per_class: keep at most this many ``class`` prompts per class (random,
            seeded); ``None`` keeps all.
        max_prompts_per_profile: keep at most this many ``metadata`` prompts per class and
            subject profile (the set of metadata values a prompt mentions); ``None`` keeps all.
            This bounds the text a single sample can be paired with.
        seed: seed of the subsampling above; the bank is a pure function of (index, classes,
            config).
    """

    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    use_metadata: bool = True
    max_prompts_per_class: int | None = None
    max_prompts_per_profile: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "templates", tuple(self.templates))
        if not self.templates:
            raise ValueError("PromptConfig.templates is empty")
        for template in self.templates:
            validate_template(template)
        for name in ("max_prompts_per_class", "max_prompts_per_profile"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"PromptConfig.{name} must be >= 1 or None, got {value}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> PromptConfig:
        """Build from a parameters dict (e.g. ``params:prompts``), rejecting unknown keys."""
        params = dict(params or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown prompt parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**params)


@dataclass(frozen=True, order=True)
class _Profile:
    """Recorded metadata of one subject, as prompt values (``None`` = not recorded)."""

    gender: str | None = None
    age_group: str | None = None
    ethnicity: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> _Profile:
        return cls(
            gender=gender_code(row.get("gender")),
            age_group=age_group(row.get("age")),
            ethnicity=ethnicity_word(row.get("ethnicity")),
        )

    def restricted_to(self, slots: Iterable[str]) -> _Profile:
        """Only the values a template with ``slots`` can mention."""
        slots = set(slots)
        return _Profile(
            gender=self.gender if "gender" in slots else None,
            age_group=self.age_group if "age" in slots else None,
            ethnicity=self.ethnicity if "ethnicity" in slots else None,
        )

    @property
    def is_empty(self) -> bool:
        return self.gender is None and self.age_group is None and self.ethnicity is None

    def sort_key(self) -> tuple[str, str, str]:
        return (self.gender or "", self.age_group or "", self.ethnicity or "")


_ARTICLE = re.compile(r"\b([Aa])n? (?=(\S))")


def _fix_articles(text: str) -> str:
    """``a``/``an`` chosen by the next word's first letter ("an angry", "a young")."""

    def choose(match: re.Match[str]) -> str:
        article = match.group(1)
        return f"{article}n " if match.group(2).lower() in "aeiou" else f"{article} "

    return _ARTICLE.sub(choose, text)


def _render(template: str, slot: str, word: str, profile: _Profile) -> str:
    """Fill ``template``: the emotion ``slot`` with ``word``, metadata slots from ``profile``.

    Unknown age and ethnicity are left out; unknown gender becomes "person".
    """
    values = {
        slot: word,
        "age": profile.age_group or "",
        "gender": gender_word(profile.gender) or UNKNOWN_PERSON,
        "ethnicity": profile.ethnicity or "",
    }
    text = template.format(**values)
    return _fix_articles(" ".join(text.split()))


def _profiles(index: pd.DataFrame | None) -> list[_Profile]:
    """Distinct recorded subject profiles of the index, in a fixed order."""
    if index is None or index.empty:
        return []
    columns = [c for c in ("gender", "age", "ethnicity") if c in index.columns]
    if not columns:
        return []
    rows = index[columns].drop_duplicates().to_dict("records")
    found = {_Profile.of(row) for row in rows}
    found.discard(_Profile())
    return sorted(found, key=_Profile.sort_key)


def _subsample(bank: pd.DataFrame, keys: list[str], limit: int | None, seed: int) -> pd.DataFrame:
    """Keep at most ``limit`` rows per group of ``keys``, chosen with a seeded generator."""
    if limit is None or bank.empty:
        return bank
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for _, group in bank.groupby(keys, sort=True, dropna=False):
        positions = group.index.to_numpy()
        if len(positions) > limit:
            positions = np.sort(rng.choice(positions, size=limit, replace=False))
        keep.extend(positions.tolist())
    return bank.loc[sorted(keep)]


def build_prompt_bank(
    index: pd.DataFrame | None,
    classes: Sequence[str],
    config: PromptConfig | None = None,
) -> pd.DataFrame:
    """Every prompt of every class: the bank AffectVLM draws training text from.

    Args:
        index: the scan index (columns ``gender``, ``age``, ``ethnicity`` are read when present);
            ``None`` builds class prompts only.
        classes: class names in class-index order; each needs an entry in the vocabulary.
        config: templates, metadata switch, caps and seed.

    Returns:
        A DataFrame with :data:`BANK_COLUMNS`, ``prompt_id`` numbering rows 0..n-1. Rows follow
        class order, then template, then subject profile; prompt texts are unique; every class has
        at least one ``class`` prompt.
    """
    config = config or PromptConfig()
    classes = list(classes)
    if not classes:
        raise ValueError("build_prompt_bank needs at least one class")
    if len(set(classes)) != len(classes):
        raise ValueError(f"duplicate class names in {classes}")
    profiles = [_Profile(), *(_profiles(index) if config.use_metadata else [])]

    records: list[dict[str, Any]] = []
    owner: dict[str, str] = {}
    for class_name in classes:
        words = emotion_words(class_name)
        for template, profile in itertools.product(config.templates, profiles):
            slots = _template_slots(template)
            (slot,) = (s for s in slots if s in EMOTION_SLOTS)
            mentioned = profile.restricted_to(slots)
            if not profile.is_empty and mentioned.is_empty:
                continue  # the template mentions none of this profile: already a class prompt
            for word in words.slot(slot):
                prompt = _render(template, slot, word, mentioned)
                if prompt in owner:
                    if owner[prompt] != class_name:
                        raise ValueError(
                            f"prompt {prompt!r} arises for both {owner[prompt]!r} and "
                            f"{class_name!r}; the classes would be indistinguishable"
                        )
                    continue
                owner[prompt] = class_name
                records.append(
                    {
                        "class_name": class_name,
                        "prompt": prompt,
                        "template": template,
                        "synonym": word,
                        "gender": mentioned.gender,
                        "age_group": mentioned.age_group,
                        "ethnicity": mentioned.ethnicity,
                        "kind": "class" if mentioned.is_empty else "metadata",
                    }
                )

    bank = pd.DataFrame.from_records(records, columns=[c for c in BANK_COLUMNS if c != "prompt_id"])
    is_class = bank["kind"] == "class"
    class_rows = _subsample(
        bank[is_class], ["class_name"], config.max_prompts_per_class, config.seed
    )
    meta_rows = _subsample(
        bank[~is_class],
        ["class_name", *PROFILE_COLUMNS],
        config.max_prompts_per_profile,
        config.seed + 1,
    )
    bank = pd.concat([class_rows, meta_rows]).sort_index()
    return _finalise(bank)


def _finalise(bank: pd.DataFrame) -> pd.DataFrame:
    bank = bank.reset_index(drop=True)
    bank.insert(0, "prompt_id", np.arange(len(bank), dtype=np.int64))
    return bank[list(BANK_COLUMNS)]


def _of_class(bank: pd.DataFrame, class_name: str) -> pd.DataFrame:
    of_class = bank[bank["class_name"] == class_name]
    if of_class.empty:
        known = ", ".join(dict.fromkeys(bank["class_name"]))
        raise ValueError(f"prompt bank has no prompt for class {class_name!r}; it has: {known}")
    return of_class


def _candidates(of_class: pd.DataFrame, profile: _Profile) -> pd.Series:
    """Prompts of one class whose every metadata mention agrees with ``profile``."""
    metadata = of_class[of_class["kind"] == "metadata"]
    if not metadata.empty and not profile.is_empty:
        agrees = np.ones(len(metadata), dtype=bool)
        for column in PROFILE_COLUMNS:
            wanted = getattr(profile, column)
            values = metadata[column]
            agrees &= values.isna().to_numpy() | (values == wanted).to_numpy()
        if agrees.any():
            return metadata["prompt"][agrees]
    return of_class.loc[of_class["kind"] != "metadata", "prompt"]


def candidate_prompts(
    bank: pd.DataFrame, row: Mapping[str, Any], class_column: str = "expression"
) -> list[str]:
    """Every prompt that fits a training sample (the set :func:`prompts_for_sample` draws from).

    Training draws one of these anew each time the sample is seen, so a sample meets all its
    augmented prompts over the epochs rather than one fixed sentence.
    """
    class_name = row.get(class_column)
    if is_missing(class_name):
        raise ValueError(f"sample has no {class_column!r} value: {dict(row)}")
    return [str(p) for p in _candidates(_of_class(bank, str(class_name)), _Profile.of(row))]


def prompts_for_sample(
    bank: pd.DataFrame,
    row: Mapping[str, Any],
    rng: np.random.Generator,
    class_column: str = "expression",
) -> str:
    """One prompt for a training sample: a metadata prompt that fits it, else a class prompt.

    A metadata prompt fits when every gender/age group/ethnicity it mentions equals the
    sample's recorded value; unrecorded sample metadata therefore never gets mentioned. The
    draw is uniform among the fitting prompts, using ``rng``.
    """
    class_name = row.get(class_column)
    if is_missing(class_name):
        raise ValueError(f"sample has no {class_column!r} value: {dict(row)}")
    candidates = _candidates(_of_class(bank, str(class_name)), _Profile.of(row))
    return str(candidates.iloc[int(rng.integers(len(candidates)))])


def class_prompts(bank: pd.DataFrame, include_metadata: bool = False) -> dict[str, list[str]]:
    """Prompts per class for the zero-shot classifier, classes in bank order.

    Metadata prompts are left out by default: at inference the subject is unknown, and a class
    embedding averaged over one profile's prompts would favour that profile.
    """
    rows = bank if include_metadata else bank[bank["kind"] != "metadata"]
    grouped: dict[str, list[str]] = {}
    for class_name, prompt in zip(rows["class_name"], rows["prompt"], strict=True):
        grouped.setdefault(str(class_name), []).append(str(prompt))
    return grouped


def plain_label_bank(classes: Sequence[str], template: str = PLAIN_LABEL_TEMPLATE) -> pd.DataFrame:
    """One prompt per class naming the class itself, in bank form (ablation baseline).

    Having the bank columns lets the same training and zero-shot code run on it unchanged.
    """
    if "{label}" not in template:
        raise ValueError(f"plain label template {template!r} needs a {{label}} slot")
    records = [
        {
            "class_name": name,
            "prompt": _fix_articles(" ".join(template.format(label=name).split())),
            "template": template,
            "synonym": name,
            "gender": None,
            "age_group": None,
            "ethnicity": None,
            "kind": "class",
        }
        for name in classes
    ]
    if len({r["prompt"] for r in records}) != len(records):
        raise ValueError(f"duplicate class names in {list(classes)}")
    return _finalise(pd.DataFrame.from_records(records, columns=list(BANK_COLUMNS[1:])))


__all__ = [
    "BANK_COLUMNS",
    "DEFAULT_TEMPLATES",
    "PLAIN_LABEL_TEMPLATE",
    "PROFILE_COLUMNS",
    "PromptConfig",
    "build_prompt_bank",
    "candidate_prompts",
    "class_prompts",
    "plain_label_bank",
    "prompts_for_sample",
    "validate_template",
]

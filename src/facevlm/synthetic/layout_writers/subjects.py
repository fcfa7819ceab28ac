"""Which subjects a synthetic set has and where their randomness comes from: the subject tasks
of a config (:func:`plan`), their ids and genders, each subject's independent seed streams, and
an activation and a bank expression as the manifest records them.

Separate because planning is what the set writer (:mod:`facevlm.synthetic.writer`) needs
before any face is made, and every layout's writer draws from the same streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facevlm.expression_bank.facs import notation
from facevlm.synthetic.config import SyntheticConfig
from facevlm.synthetic.expressions import Activation

#: Seed-stream tag of each layout (part of every subject's seed).
LAYOUT_CODES: dict[str, int] = {"bu3dfe": 1, "bu4dfe": 2, "bosphorus": 3, "bp4d": 4, "4dme": 5}
#: Share of female subjects (BU-3DFE has 56 of 100).
FEMALE_SHARE = 0.56


@dataclass(frozen=True)
class SubjectTask:
    """One unit of work: subject ``index`` (0-based, across genders) of ``layout``."""

    layout: str
    index: int
    subject: str
    gender: str


def _subject_ids(layout: str, n: int, offset: int = 0) -> list[tuple[str, str]]:
    """``(subject id, gender)`` of ``n`` subjects, women first, numbered per gender from
    ``offset + 1`` (BU-3DFE only; the other layouts' ids are too narrow to offset)."""
    n_f = int(round(FEMALE_SHARE * n))
    genders = ["F"] * n_f + ["M"] * (n - n_f)
    start = offset if layout == "bu3dfe" else 0
    ids, counters = [], {"F": start, "M": start}
    for g in genders:
        counters[g] += 1
        k = counters[g]
        if layout == "bu3dfe":
            ids.append((f"{g}{k:04d}", g))
        elif layout in ("bu4dfe", "bp4d"):
            ids.append((f"{g}{k:03d}", g))
        elif layout == "bosphorus":
            ids.append((f"bs{len(ids):03d}", g))
        else:
            ids.append((f"S{len(ids) + 1:02d}", g))
    return ids


def plan(config: SyntheticConfig) -> list[SubjectTask]:
    """Every subject task of ``config``, in a fixed order."""
    counts = {
        "bu3dfe": config.n_subjects,
        "bu4dfe": config.n_subjects_4d,
        "bosphorus": config.n_bosphorus,
        "bp4d": config.n_bp4d_subjects,
        "4dme": config.n_micro_subjects,
    }
    tasks = []
    for layout in config.layouts:
        ids = _subject_ids(layout, counts[layout], config.subject_offset)
        for index, (subject, gender) in enumerate(ids):
            tasks.append(SubjectTask(layout, index, subject, gender))
    return tasks


def _streams(seed: int, task: SubjectTask, n: int = 4) -> list[np.random.Generator]:
    """Independent generators of one subject: identity, recipes, poses/frames, extras (and
    more on request: a stream's draws do not depend on how many are asked for)."""
    children = np.random.SeedSequence([seed, LAYOUT_CODES[task.layout], task.index]).spawn(n)
    return [np.random.default_rng(child) for child in children]


def _activation_record(activation: Activation) -> dict[str, list[float]]:
    return {f"AU{au}": [round(wl, 4), round(wr, 4)] for au, (wl, wr) in sorted(activation.items())}


def _bank_record(worn: dict) -> dict[str, dict[str, str]]:
    """Which bank row each emotion of a subject wears (``emotion -> (activation, row)``): the
    subject's bank person and coded expression, so that a split can be checked against them."""
    return {
        emotion: {"item": row.item, "subject": row.subject, "action_units": notation(row.units)}
        for emotion, (_, row) in worn.items()
    }

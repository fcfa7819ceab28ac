"""Prompt-bank conveniences that only the prompt tests use: a seeded prompt for every row of an
index, and the plain-label prompts grouped per class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from facevlm.prompts.augmented import (
    PLAIN_LABEL_TEMPLATE,
    _candidates,
    _of_class,
    _Profile,
    class_prompts,
    plain_label_bank,
)
from facevlm.prompts.vocabulary import is_missing


def prompts_for_index(
    bank: pd.DataFrame,
    index: pd.DataFrame,
    seed: int = 0,
    class_column: str = "expression",
) -> pd.Series:
    """:func:`prompts_for_sample` for every row of ``index`` (aligned on its index), seeded.

    The candidate lists are computed once per (class, profile), as many rows share both.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, pd.DataFrame] = {}
    cache: dict[tuple[str, _Profile], pd.Series] = {}
    prompts: list[str] = []
    for row in index.to_dict("records"):
        class_name = row.get(class_column)
        if is_missing(class_name):
            raise ValueError(f"sample has no {class_column!r} value: {row}")
        key = (str(class_name), _Profile.of(row))
        if key not in cache:
            if key[0] not in by_class:
                by_class[key[0]] = _of_class(bank, key[0])
            cache[key] = _candidates(by_class[key[0]], key[1])
        candidates = cache[key]
        prompts.append(str(candidates.iloc[int(rng.integers(len(candidates)))]))
    return pd.Series(prompts, index=index.index, name="prompt", dtype=object)


def plain_label_prompts(
    classes: Sequence[str], template: str = PLAIN_LABEL_TEMPLATE
) -> dict[str, list[str]]:
    """``{class: ["a photo of a <class> face"]}``: the "plain label prompts" ablation."""
    return class_prompts(plain_label_bank(classes, template))

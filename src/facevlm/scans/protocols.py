"""Evaluation protocols: which scans are used and how subjects are split into folds.

Why a module of its own: the comparability of every number we report rests on two things the
papers fix by convention — the *subset* (BU-3DFE: 60 subjects × the two highest intensities × six
emotions = 720 scans) and *subject independence* (no person in both the training and the test
split of a fold). Both are easy to get subtly wrong inside a training loop, so they are computed
here, once, as plain tables that can be saved, inspected and tested.

Two kinds of table:

- subject tables ``subject, fold`` (:func:`subject_kfold`, :func:`leave_one_subject_out`): the
  fold in which each subject is the test subject;
- per-row fold tables (:func:`make_folds`, :func:`cross_dataset`): the selected index rows plus a
  ``fold`` column, the fold whose *test* split holds the row. For fold ``f`` the test split is
  ``fold == f`` and the training split is every other row (``ExperimentData.split``). Rows that are
  never tested (the training dataset of a cross-dataset protocol) have ``fold == TRAIN_ONLY``
  (-1); cross-dataset tables also carry ``split`` (``train``/``test``) for readability.

Subjects are identified by the ``subject`` column alone: the same id in two datasets counts as
one person, which can only make folds more conservative, never leak.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from facevlm.scans.labels import BASIC_EMOTIONS, MICRO_EXPRESSION_CLASSES
from facevlm.scans.layouts.base import base_dataset, canonical_layout_name

log = logging.getLogger(__name__)

#: ``fold`` of rows that are only ever in the training split.
TRAIN_ONLY = -1

#: BU-3DFE literature subset: the two highest of the four intensities.
BU3DFE_TOP_INTENSITIES: tuple[int, ...] = (3, 4)

#: Default number of subjects of the literature subsets (``None``: all subjects).
LITERATURE_SUBJECTS: dict[str, int | None] = {
    "bu3dfe": 60,
    "bu4dfe": None,
    "bosphorus": None,
    "bp4d": None,
    "4dme": None,
}


# ---------------------------------------------------------------------------------- subjects
def subjects_of(index: pd.DataFrame) -> list[str]:
    """Sorted distinct subjects of an index; a row without a subject is an error."""
    if "subject" not in index.columns:
        raise ValueError("index has no 'subject' column")
    if index["subject"].isna().any():
        raise ValueError(f"{int(index['subject'].isna().sum())} index rows have no subject")
    return sorted(index["subject"].astype(str).unique())


def subject_kfold(index: pd.DataFrame, k: int, seed: int = 0) -> pd.DataFrame:
    """Assign each subject to one of ``k`` test folds, at random but reproducibly.

    Subjects are sorted, shuffled with ``numpy.random.default_rng(seed)`` and dealt round-robin,
    so fold sizes differ by at most one subject and the result does not depend on row order.

    Returns:
        DataFrame ``subject, fold`` (one row per subject, folds ``0..k-1``).

    Raises:
        ValueError: ``k < 2`` or fewer subjects than folds.
    """
    if k < 2:
        raise ValueError(f"subject k-fold needs k >= 2, got k={k}")
    subjects = subjects_of(index)
    if len(subjects) < k:
        raise ValueError(
            f"subject k-fold with k={k} needs at least {k} subjects, the index has "
            f"{len(subjects)} ({', '.join(subjects[:10])}{' ...' if len(subjects) > 10 else ''}); "
            "lower k or use leave-one-subject-out"
        )
    order = np.random.default_rng(seed).permutation(len(subjects))
    folds = np.empty(len(subjects), dtype=np.int64)
    folds[order] = np.arange(len(subjects)) % k
    return pd.DataFrame({"subject": subjects, "fold": folds})


def leave_one_subject_out(index: pd.DataFrame) -> pd.DataFrame:
    """One fold per subject, numbered in sorted subject order.

    Raises:
        ValueError: fewer than two subjects (a fold needs someone to train on).
    """
    subjects = subjects_of(index)
    if len(subjects) < 2:
        raise ValueError(
            f"leave-one-subject-out needs at least 2 subjects, the index has {len(subjects)}"
        )
    return pd.DataFrame({"subject": subjects, "fold": np.arange(len(subjects), dtype=np.int64)})


def cross_dataset(train_index: pd.DataFrame, test_index: pd.DataFrame) -> pd.DataFrame:
    """Train on one dataset, test on another: a per-row table with a single test fold 0.

    Raises:
        ValueError: either side is empty.
    """
    if len(train_index) == 0 or len(test_index) == 0:
        raise ValueError(
            f"cross-dataset protocol needs rows on both sides (train {len(train_index)}, "
            f"test {len(test_index)})"
        )
    train = train_index.assign(fold=TRAIN_ONLY, split="train")
    test = test_index.assign(fold=0, split="test")
    return pd.concat([train, test], ignore_index=True)


def fold_ids(table: pd.DataFrame) -> list[int]:
    """The test folds of a per-row fold table, ascending (``TRAIN_ONLY`` excluded)."""
    return sorted(int(f) for f in table["fold"].unique() if f != TRAIN_ONLY)


# ---------------------------------------------------------------------------------- subsets
def literature_subset(
    index: pd.DataFrame, n_subjects: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """The rows the literature uses, dataset by dataset (synthetic rows as their layout):

    - BU-3DFE: six emotions at intensities 3 and 4, 60 subjects (720 scans on the real set);
    - BU-4DFE: six emotions, all subjects (``n_subjects: 60`` for the 60-subject variant);
    - BP4D: the six basic tasks T1 T2 T3 T5 T7 T8 (their expressions are the six emotions);
    - Bosphorus: the six emotions;
    - 4DME: the five micro-expression classes.

    ``n_subjects`` overrides the per-dataset default (:data:`LITERATURE_SUBJECTS`). Which
    subjects: DECIDED, a seeded random sample (papers draw them at random and repeat); when a
    dataset has fewer subjects than asked, all are kept and a warning is logged.
    """
    if len(index) == 0:
        return index.copy()
    parts = []
    for dataset, rows in index.groupby("dataset", sort=True):
        layout = base_dataset(str(dataset))
        keep = rows["expression"].isin(
            MICRO_EXPRESSION_CLASSES if layout == "4dme" else BASIC_EMOTIONS
        )
        if layout == "bu3dfe":
            keep &= rows["intensity"].isin(BU3DFE_TOP_INTENSITIES)
        rows = rows[keep]
        wanted = n_subjects if n_subjects is not None else LITERATURE_SUBJECTS.get(layout)
        parts.append(_sample_subjects(rows, wanted, seed, str(dataset)))
    return pd.concat(parts).sort_index() if parts else index.iloc[:0].copy()


def _sample_subjects(
    rows: pd.DataFrame, wanted: int | None, seed: int, dataset: str
) -> pd.DataFrame:
    if wanted is None or len(rows) == 0:
        return rows
    subjects = subjects_of(rows)
    if len(subjects) <= wanted:
        if len(subjects) < wanted:
            log.warning("%s: literature subset wants %d subjects, only %d present; using all",
                        dataset, wanted, len(subjects))  # fmt: skip
        return rows
    chosen = np.random.default_rng(seed).choice(subjects, size=wanted, replace=False)
    return rows[rows["subject"].astype(str).isin(set(chosen.tolist()))]


# ---------------------------------------------------------------------------------- config
ProtocolName = Literal["subject_kfold", "loso", "cross_dataset"]
_NAME_ALIASES = {"kfold": "subject_kfold", "leave_one_subject_out": "loso"}


@dataclass(frozen=True)
class ProtocolConfig:
    """An evaluation protocol, as written in ``parameters_*.yml``.

    Attributes:
        name: ``subject_kfold`` (default), ``loso`` or ``cross_dataset``.
        k: folds of ``subject_kfold`` (10, the usual choice).
        seed: seed of the fold shuffle and of the literature subject sample.
        subset: ``literature`` (default, :func:`literature_subset`) or ``all`` rows.
        n_subjects: override the literature subset's number of subjects.
        train_dataset, test_dataset: ``cross_dataset`` only; ``dataset`` values of the index
            (``bu4dfe``, ``bp4d``, ``synthetic-bu4dfe`` ...).
        datasets: k-fold / LOSO only: keep the rows of these ``dataset`` values (``None``: all).
            The synthetic index holds several layouts; a model is trained on one of them.
    """

    name: ProtocolName = "subject_kfold"
    k: int = 10
    seed: int = 0
    subset: Literal["literature", "all"] = "literature"
    n_subjects: int | None = None
    train_dataset: str | None = None
    test_dataset: str | None = None
    datasets: list[str] | None = None

    def __post_init__(self) -> None:
        if self.name not in ("subject_kfold", "loso", "cross_dataset"):
            raise ValueError(
                f"protocol name must be subject_kfold, loso or cross_dataset, got {self.name!r}"
            )
        if self.subset not in ("literature", "all"):
            raise ValueError(f"protocol subset must be literature or all, got {self.subset!r}")
        if self.name == "subject_kfold" and self.k < 2:
            raise ValueError(f"protocol k must be >= 2, got {self.k}")
        if self.n_subjects is not None and self.n_subjects < 1:
            raise ValueError(f"protocol n_subjects must be positive, got {self.n_subjects}")
        if self.name == "cross_dataset" and (not self.train_dataset or not self.test_dataset):
            raise ValueError("cross_dataset protocol needs train_dataset and test_dataset")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> ProtocolConfig:
        """Parse a params dict; unknown keys are an error (a typo must not change a protocol)."""
        params = dict(params or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"unknown protocol parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        if "name" in params:
            params["name"] = _NAME_ALIASES.get(str(params["name"]), str(params["name"]))
        for key in ("k", "seed", "n_subjects"):
            if params.get(key) is not None:
                params[key] = int(params[key])
        return cls(**params)


def make_folds(index: pd.DataFrame, config: ProtocolConfig | Mapping[str, Any]) -> pd.DataFrame:
    """The per-row fold table of ``config`` on ``index`` (see the module docstring).

    The subset is applied first, then subjects are split; the result holds the selected rows with
    every index column plus ``fold`` (and ``split`` for ``cross_dataset``).
    """
    if not isinstance(config, ProtocolConfig):
        config = ProtocolConfig.from_params(config)
    if config.name == "cross_dataset":
        train = _select_dataset(index, str(config.train_dataset))
        test = _select_dataset(index, str(config.test_dataset))
        if config.subset == "literature":
            train = literature_subset(train, config.n_subjects, config.seed)
            test = literature_subset(test, config.n_subjects, config.seed)
        return cross_dataset(train, test)
    if config.datasets:
        index = pd.concat([_select_dataset(index, str(d)) for d in config.datasets])
    rows = (
        literature_subset(index, config.n_subjects, config.seed)
        if config.subset == "literature"
        else index
    )
    if len(rows) == 0:
        raise ValueError(f"protocol {config.name}: no rows left after the {config.subset} subset")
    subject_folds = (
        subject_kfold(rows, config.k, config.seed)
        if config.name == "subject_kfold"
        else leave_one_subject_out(rows)
    )
    fold_of = dict(zip(subject_folds["subject"], subject_folds["fold"], strict=True))
    return rows.assign(fold=rows["subject"].astype(str).map(fold_of).astype("int64")).reset_index(
        drop=True
    )


def _select_dataset(index: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows of one dataset; ``BU-4DFE`` matches ``bu4dfe``, exact tags match synthetic ones."""
    present = sorted(index["dataset"].astype(str).unique())
    if dataset in present:
        return index[index["dataset"] == dataset]
    try:
        key = canonical_layout_name(dataset)
    except KeyError:
        key = dataset
    rows = index[index["dataset"] == key]
    if len(rows) == 0:
        raise ValueError(f"dataset {dataset!r} not in the index; present: {', '.join(present)}")
    return rows

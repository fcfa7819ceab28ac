"""Evaluation protocols: literature subsets and subject-independent fold tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facevlm.scans.labels import BASIC_EMOTIONS, MICRO_EXPRESSION_CLASSES
from facevlm.scans.protocols import (
    TRAIN_ONLY,
    ProtocolConfig,
    cross_dataset,
    fold_ids,
    leave_one_subject_out,
    literature_subset,
    make_folds,
    subject_kfold,
)


def split_fold(table, fold):
    """``(train, test)`` rows of one fold of a per-row fold table."""
    is_test = table["fold"] == fold
    assert is_test.any(), f"fold {fold} has no test rows"
    return table[~is_test], table[is_test]


def bu3dfe_index(n_subjects: int = 100, dataset: str = "bu3dfe") -> pd.DataFrame:
    """The full BU-3DFE design: per subject 6 emotions × 4 intensities + neutral = 25 rows."""
    rows = []
    for s in range(n_subjects):
        subject = f"{'F' if s % 2 else 'M'}{s + 1:04d}"
        rows.append(
            {"dataset": dataset, "subject": subject, "expression": "neutral", "intensity": 0}
        )
        for emotion, intensity in itertools.product(BASIC_EMOTIONS, range(1, 5)):
            rows.append(
                {
                    "dataset": dataset,
                    "subject": subject,
                    "expression": emotion,
                    "intensity": intensity,
                }
            )
    index = pd.DataFrame(rows)
    index["path"] = [f"/data/{i}.wrl" for i in range(len(index))]
    return index


def frames_index(
    dataset: str, subjects: list[str], labels: list[str], n_frames: int = 3
) -> pd.DataFrame:
    rows = [
        {"dataset": dataset, "subject": s, "expression": e, "intensity": None,
         "sequence": f"{s}/{e}", "frame": f}
        for s in subjects for e in labels for f in range(n_frames)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def assert_subject_independent(table: pd.DataFrame) -> None:
    for fold in fold_ids(table):
        train, test = split_fold(table, fold)
        assert not set(train["subject"]) & set(test["subject"]), f"fold {fold} leaks a subject"


# ---------------------------------------------------------------------------------- k-fold
def test_kfold_puts_every_subject_in_exactly_one_test_fold() -> None:
    index = bu3dfe_index(23)
    folds = subject_kfold(index, k=10, seed=0)
    assert list(folds.columns) == ["subject", "fold"]
    assert sorted(folds["subject"]) == sorted(index["subject"].unique())
    assert folds["subject"].is_unique
    sizes = folds["fold"].value_counts()
    assert set(sizes.index) == set(range(10))
    assert sizes.max() - sizes.min() <= 1  # balanced


def test_kfold_is_reproducible_by_seed_and_independent_of_row_order() -> None:
    index = bu3dfe_index(30)
    a = subject_kfold(index, 5, seed=7)
    b = subject_kfold(index.sample(frac=1.0, random_state=3), 5, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert not subject_kfold(index, 5, seed=8)["fold"].equals(a["fold"])


def test_fewer_subjects_than_folds_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="k=10 needs at least 10 subjects.*has 8"):
        subject_kfold(bu3dfe_index(8), 10)
    with pytest.raises(ValueError, match="k >= 2"):
        subject_kfold(bu3dfe_index(8), 1)


def test_rows_without_subject_are_an_error() -> None:
    index = bu3dfe_index(3)
    index.loc[0, "subject"] = None
    with pytest.raises(ValueError, match="no subject"):
        subject_kfold(index, 2)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(2, 12), st.integers(0, 2**32 - 1))
def test_kfold_never_leaks_a_subject(n_subjects: int, k: int, seed: int) -> None:
    index = frames_index("bu4dfe", [f"F{i:03d}" for i in range(n_subjects)], ["happiness", "anger"])
    if n_subjects < k:
        with pytest.raises(ValueError):
            make_folds(index, {"k": k, "seed": seed})
        return
    table = make_folds(index, {"k": k, "seed": seed})
    assert len(table) == len(index)  # every row is tested exactly once
    assert fold_ids(table) == list(range(k))
    assert_subject_independent(table)
    assert table.groupby("subject")["fold"].nunique().eq(1).all()


# ---------------------------------------------------------------------------------- LOSO
def test_loso_has_one_fold_per_subject() -> None:
    index = frames_index("4dme", ["S03", "S01", "S02"], ["positive", "negative"])
    folds = leave_one_subject_out(index)
    assert folds.to_dict("list") == {"subject": ["S01", "S02", "S03"], "fold": [0, 1, 2]}
    table = make_folds(index, {"name": "loso"})
    for fold in fold_ids(table):
        train, test = split_fold(table, fold)
        assert test["subject"].nunique() == 1
        assert set(train["subject"]) == {"S01", "S02", "S03"} - set(test["subject"])


def test_loso_needs_two_subjects() -> None:
    with pytest.raises(ValueError, match="at least 2 subjects"):
        leave_one_subject_out(frames_index("4dme", ["S01"], ["positive"]))


# ---------------------------------------------------------------------------------- subsets
def test_bu3dfe_literature_subset_is_720_scans_of_60_subjects() -> None:
    subset = literature_subset(bu3dfe_index(100), seed=0)
    assert len(subset) == 720
    assert subset["subject"].nunique() == 60
    assert set(subset["intensity"]) == {3, 4}
    assert set(subset["expression"]) == set(BASIC_EMOTIONS)
    again = literature_subset(bu3dfe_index(100), seed=0)
    assert set(again["subject"]) == set(subset["subject"])
    assert set(literature_subset(bu3dfe_index(100), seed=1)["subject"]) != set(subset["subject"])


def test_small_datasets_keep_every_subject_in_the_literature_subset() -> None:
    subset = literature_subset(bu3dfe_index(5, dataset="synthetic-bu3dfe"))
    assert subset["subject"].nunique() == 5
    assert len(subset) == 5 * 6 * 2


def test_bu4dfe_all_or_60_subjects() -> None:
    index = frames_index(
        "bu4dfe", [f"F{i:03d}" for i in range(80)], [*BASIC_EMOTIONS, "neutral"], 1
    )
    assert literature_subset(index)["subject"].nunique() == 80
    sixty = literature_subset(index, n_subjects=60)
    assert sixty["subject"].nunique() == 60
    assert set(sixty["expression"]) == set(BASIC_EMOTIONS)


def test_bp4d_keeps_the_six_basic_tasks_and_4dme_the_five_classes() -> None:
    bp4d = frames_index("bp4d", ["F001", "M001"], [*BASIC_EMOTIONS, "pain", "embarrassment"], 2)
    assert set(literature_subset(bp4d)["expression"]) == set(BASIC_EMOTIONS)
    me = frames_index("4dme", ["S01", "S02"], [*MICRO_EXPRESSION_CLASSES], 2)
    me.loc[0, "expression"] = None
    assert set(literature_subset(me)["expression"]) == set(MICRO_EXPRESSION_CLASSES)
    assert len(literature_subset(me)) == len(me) - 1


def test_subset_all_keeps_every_row() -> None:
    index = bu3dfe_index(12)
    table = make_folds(index, {"subset": "all", "k": 3})
    assert len(table) == len(index)


def test_literature_kfold_on_bu3dfe_uses_720_scans_in_10_subject_independent_folds() -> None:
    table = make_folds(bu3dfe_index(100), ProtocolConfig(k=10, seed=0))
    assert len(table) == 720
    assert fold_ids(table) == list(range(10))
    assert table.groupby("fold")["subject"].nunique().eq(6).all()
    assert_subject_independent(table)
    assert {"path", "expression", "fold"} <= set(table.columns)


# ---------------------------------------------------------------------------------- cross-dataset
def test_cross_dataset_trains_on_one_and_tests_on_the_other() -> None:
    train = frames_index("bu4dfe", ["F001", "F002"], ["happiness"])
    test = frames_index("bp4d", ["F001", "M001"], ["happiness"])
    table = cross_dataset(train, test)
    assert fold_ids(table) == [0]
    tr, te = split_fold(table, 0)
    assert set(tr["dataset"]) == {"bu4dfe"} and set(te["dataset"]) == {"bp4d"}
    assert (tr["fold"] == TRAIN_ONLY).all() and (tr["split"] == "train").all()
    assert (te["split"] == "test").all()
    with pytest.raises(ValueError, match="both sides"):
        cross_dataset(train, test.iloc[:0])


def test_cross_dataset_from_config_on_a_combined_index() -> None:
    index = pd.concat([
        frames_index("bu4dfe", ["F001", "F002"], ["happiness", "neutral"]),
        frames_index("bp4d", ["M001"], ["happiness", "pain"]),
    ], ignore_index=True)  # fmt: skip
    table = make_folds(
        index, {"name": "cross_dataset", "train_dataset": "BU-4DFE", "test_dataset": "bp4d"}
    )
    tr, te = split_fold(table, 0)
    assert set(tr["expression"]) == set(te["expression"]) == {"happiness"}
    with pytest.raises(ValueError, match="not in the index"):
        make_folds(
            index, {"name": "cross_dataset", "train_dataset": "bosphorus", "test_dataset": "bp4d"}
        )


# ---------------------------------------------------------------------------------- config
def test_config_from_params_with_defaults_aliases_and_types() -> None:
    assert ProtocolConfig.from_params({}) == ProtocolConfig()
    assert ProtocolConfig().k == 10 and ProtocolConfig().subset == "literature"
    cfg = ProtocolConfig.from_params(
        {"name": "leave_one_subject_out", "seed": "3", "n_subjects": 60}
    )
    assert (cfg.name, cfg.seed, cfg.n_subjects) == ("loso", 3, 60)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"folds": 10}, "unknown protocol parameter"),
        ({"name": "holdout"}, "subject_kfold, loso or cross_dataset"),
        ({"subset": "some"}, "literature or all"),
        ({"k": 1}, "k must be >= 2"),
        ({"name": "cross_dataset", "train_dataset": "bu4dfe"}, "test_dataset"),
        ({"n_subjects": 0}, "positive"),
    ],
)
def test_config_rejects_bad_params(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProtocolConfig.from_params(params)


def test_make_folds_on_an_empty_subset_is_a_clear_error() -> None:
    index = frames_index("bp4d", ["F001", "F002"], ["pain"])
    with pytest.raises(ValueError, match="no rows left"):
        make_folds(index, {"k": 2})


def test_fold_table_rows_are_index_rows() -> None:
    index = bu3dfe_index(10)
    table = make_folds(index, {"k": 5})
    assert set(table["path"]) <= set(index["path"])
    assert np.issubdtype(table["fold"].dtype, np.integer)

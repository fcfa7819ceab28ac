"""A model's prompt bank comes from the rows its protocol selected, not from whatever else the
dataset root holds."""

from __future__ import annotations

import pandas as pd

from facevlm.pipelines.training.nodes import build_prompt_bank
from facevlm.scans.protocols import make_folds

CLASSES = ["anger", "happiness"]
PARAMETERS = {
    "recipe": "affectvlm",
    "prompts": {"kind": "augmented", "use_metadata": True, "seed": 0},
    "experiment": {"data": {"classes": CLASSES}},
}
PROTOCOL = {"name": "subject_kfold", "k": 2, "seed": 0, "subset": "all"}


def _scans(dataset: str, subjects: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    rows = [
        {
            "path": f"/{dataset}/{subject}/{expression}.wrl",
            "dataset": dataset,
            "subject": subject,
            "gender": gender,
            "age": age,
            "ethnicity": ethnicity,
            "expression": expression,
            "intensity": 4,
        }
        for subject, gender, age, ethnicity in subjects
        for expression in CLASSES
    ]
    return pd.DataFrame(rows)


def test_other_datasets_in_the_index_do_not_change_a_models_prompts():
    bu3dfe = _scans("synthetic-bu3dfe", [("F0001", "F", 25, "white"), ("M0001", "M", 40, "black")])
    sequences = _scans(
        "synthetic-bu4dfe", [("F001", "F", 61, "indian"), ("M001", "M", 33, "latino")]
    )
    protocol = {**PROTOCOL, "datasets": ["synthetic-bu3dfe"]}

    alone = build_prompt_bank(make_folds(bu3dfe, protocol), PARAMETERS)
    beside = build_prompt_bank(make_folds(pd.concat([bu3dfe, sequences]), protocol), PARAMETERS)

    pd.testing.assert_frame_equal(alone, beside)
    assert set(beside["ethnicity"].dropna()) == {"white", "black"}  # no 4D subject's

"""The synthetic subjects wearing the expression bank's real expressions (``expressions: bank``),
and the prototypes unchanged when it is off."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facevlm.expression_bank.facs import AU_SHAPES
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.scans.protocols import subject_kfold
from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset
from facevlm.synthetic.config import BANK_HELD_OUT_PER_EMOTION
from facevlm.synthetic.expressions import scale_activation, subject_recipe
from facevlm.synthetic.expressions.bank_recipes import (
    STAND_INS,
    bank_expressions,
    bank_groups,
    held_out_people,
)
from facevlm.synthetic.layout_writers.subjects import _activation_record, _streams, plan

SMALL = SyntheticConfig(
    seed=3,
    n_subjects=4,
    n_subjects_4d=2,
    n_frames=5,
    resolution=1000,
    resolution_4d=600,
    texture_size=64,
    texture_size_4d=64,
    layouts=("bu3dfe", "bu4dfe"),
    face_sources=("ict",),
    workers=1,
)
ROWS = {row.item: row for row in bank_expressions()}


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _posed_units(item: str) -> set[int]:
    """The animated units a bank row is posed by: its own, or their stand-ins."""
    units = set()
    for unit in ROWS[item].units:
        if unit.au in AU_SHAPES:
            units.add(unit.au)
        else:
            units.update(au for au, _ in STAND_INS[unit.au])
    return units


@pytest.fixture(scope="module")
def banked(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("banked")
    return generate_synthetic_dataset(root, replace(SMALL, expressions="bank"))


def test_prototypes_are_the_set_as_it_was(tmp_path):
    """Off (the default), the option changes no byte, no manifest and no hash: the sets written
    before it existed are reused as they are."""
    default = SyntheticConfig()
    assert default.expressions == "prototypes"
    assert "expressions" not in default.to_dict()
    small = replace(SMALL, layouts=("bu3dfe",), n_subjects=1)
    first = generate_synthetic_dataset(tmp_path / "a", small)
    second = generate_synthetic_dataset(tmp_path / "b", replace(small, expressions="prototypes"))
    assert first == second
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    # each subject's recipes are today's draws of the EMFACS prototypes, stream for stream
    (task,) = plan(small)
    rng_recipe = _streams(small.seed, task, 5)[1]
    expressive = float(np.exp(rng_recipe.normal(0.0, 0.15)))
    bias = float(rng_recipe.normal(0.0, 0.08))
    expected = {
        e: _activation_record(
            scale_activation(subject_recipe(e, rng_recipe, side_bias=bias), expressive)
        )
        for e in BASIC_EMOTIONS
    }
    (subject,) = first["layouts"]["bu3dfe"]["subjects"]
    assert subject["recipes"] == expected
    assert "bank" not in subject


def test_a_subjects_emotion_is_a_bank_row_of_that_emotion(banked):
    for subject in banked["layouts"]["bu3dfe"]["subjects"]:
        assert set(subject["bank"]) == set(BASIC_EMOTIONS)
        for emotion, worn in subject["bank"].items():
            row = ROWS[worn["item"]]
            assert (row.emotion, row.subject) == (emotion, worn["subject"])
            recipe = subject["recipes"][emotion]
            assert {int(au[2:]) for au in recipe} == _posed_units(worn["item"])
            # the intensity levels scale the bank's peak: level 4 is the recipe itself
            code = {"anger": "AN", "disgust": "DI", "fear": "FE", "happiness": "HA"}.get(emotion)
            if code:
                (stem,) = [s for s in subject["scans"] if f"_{code}04" in s]
                (low,) = [s for s in subject["scans"] if f"_{code}01" in s]
                assert subject["activations"][stem] == recipe
                for au, (left, right) in subject["activations"][low].items():
                    assert left == pytest.approx(0.4 * recipe[au][0], abs=1e-3)
                    assert right == pytest.approx(0.4 * recipe[au][1], abs=1e-3)


def test_the_bank_groups_are_disjoint_and_hold_every_emotion():
    groups = bank_groups(16, 0, "bu3dfe")
    people = [{r.subject for rows in g.values() for r in rows} for g in groups]
    assert sum(len(p) for p in people) == len(set().union(*people))  # no person in two groups
    assert all(all(g[e] for e in BASIC_EMOTIONS) for g in groups)
    assert bank_groups(16, 0, "bu3dfe") == groups  # seeded
    with pytest.raises(ValueError, match="cannot keep"):
        bank_groups(40, 0, "bu3dfe")


def _people(groups) -> set[str]:
    return {r.subject for g in groups for rows in g.values() for r in rows}


def test_the_held_out_people_are_never_dealt_to_a_training_set():
    """Whatever the run's seed and layout, ``bank`` deals none of the held-out people, and the
    held-out pool deals them alone, enough of them of each emotion to keep six subjects apart."""
    held = held_out_people()
    made = {e: {r.subject for r in bank_expressions() if r.emotion == e} for e in BASIC_EMOTIONS}
    assert all(len(made[e] & held) >= BANK_HELD_OUT_PER_EMOTION for e in BASIC_EMOTIONS)
    for seed in range(5):
        for layout in ("bu3dfe", "bu4dfe"):
            assert not _people(bank_groups(16, seed, layout)) & held
            yardstick = bank_groups(6, seed, layout, "held_out")
            assert _people(yardstick) == held  # every held-out person, and no one else
            assert all(all(g[e] for e in BASIC_EMOTIONS) for g in yardstick)
    with pytest.raises(ValueError, match="pool"):
        bank_groups(6, 0, "bu3dfe", "everyone")


def test_a_held_out_bank_set_wears_only_the_held_out_people(tmp_path, banked):
    config = replace(SMALL, layouts=("bu3dfe",), expressions="bank_held_out")
    assert config.content_hash() != replace(config, expressions="bank").content_hash()
    manifest = generate_synthetic_dataset(tmp_path, config)
    worn = {
        w["subject"] for s in manifest["layouts"]["bu3dfe"]["subjects"] for w in s["bank"].values()
    }
    assert worn and worn <= held_out_people()
    trained = {
        w["subject"] for s in banked["layouts"]["bu3dfe"]["subjects"] for w in s["bank"].values()
    }
    assert not trained & held_out_people()


def test_held_out_subjects_never_wear_a_training_subjects_bank_person(banked):
    subjects = banked["layouts"]["bu3dfe"]["subjects"]
    worn = {s["subject"]: {w["subject"] for w in s["bank"].values()} for s in subjects}
    for seed in range(5):
        folds = subject_kfold(pd.DataFrame({"subject": list(worn)}), k=2, seed=seed)
        for fold in (0, 1):
            held_out = set(folds.loc[folds["fold"] == fold, "subject"])
            tested = set().union(*(worn[s] for s in held_out))
            trained = set().union(*(worn[s] for s in worn if s not in held_out))
            assert not tested & trained


def test_sequences_ramp_to_the_bank_expression(banked):
    for subject in banked["layouts"]["bu4dfe"]["subjects"]:
        people = [seq["bank"]["subject"] for seq in subject["sequences"].values()]
        for seq in subject["sequences"].values():
            row = ROWS[seq["bank"]["item"]]
            assert row.emotion == seq["emotion"]
            assert {int(au[2:]) for au in seq["activation"]} == _posed_units(row.item)
            profile = seq["profile"]
            assert profile[0] == 0.0 and max(profile) == 1.0
            assert profile[seq["apex_frame"]] == 1.0
        others = [
            seq["bank"]["subject"]
            for other in banked["layouts"]["bu4dfe"]["subjects"]
            if other is not subject
            for seq in other["sequences"].values()
        ]
        assert not set(people) & set(others)


def test_the_bank_needs_the_lab_style():
    for bank in ("bank", "bank_held_out"):
        with pytest.raises(ValueError, match="lab"):
            SyntheticConfig(expressions=bank, style="web")
    with pytest.raises(ValueError, match="expressions"):
        SyntheticConfig(expressions="photos")

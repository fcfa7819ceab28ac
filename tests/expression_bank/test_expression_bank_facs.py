"""FACS codes into the bank: notation read as coders write it, the one FACS to ARKit mapping,
intensities drawn reproducibly where the codes give none, and CK+'s codes as shipped."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facevlm.expression_bank import facs
from facevlm.expression_bank.bank import (
    FACS,
    WEIGHT_COLUMNS,
    ExpressionBankError,
    Outcome,
    bank_table,
    report_table,
)
from facevlm.expression_bank.config import ExpressionBankConfig
from facevlm.expression_bank.emotions import BANK_EMOTIONS
from facevlm.expression_bank.facs import (
    CODED_ONLY_CHANNELS,
    CodedUnit,
    activation_from_json,
    arkit_weights,
    draw_activation,
    parse_action_units,
)
from facevlm.expression_bank.facs_tables import read_facs_tables
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES

SHIPPED = {"ckplus_netfacs": {"path": "package:ckplus_facs_netfacs.csv"}}


def _bank(tables: dict, **settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    config = ExpressionBankConfig.from_params({"facs_tables": tables, **settings})
    outcome = Outcome(fail_fast=config.fail_fast)
    read_facs_tables(config, outcome)
    return bank_table(outcome.expressions), report_table(outcome.skipped)


def _channels(weights: np.ndarray) -> dict[str, float]:
    return {n: float(w) for n, w in zip(BLENDSHAPE_NAMES, weights, strict=True) if w > 0}


@pytest.fixture(scope="module")
def ckplus():
    return _bank(SHIPPED)


# ----------------------------------------------------------------------------- notation
def test_notation_as_coders_write_it():
    assert parse_action_units("1+2+5B+L12C+25") == (
        CodedUnit(1),
        CodedUnit(2),
        CodedUnit(5, intensity=0.4),
        CodedUnit(12, side="L", intensity=0.6),
        CodedUnit(25),
    )
    assert [u.au for u in parse_action_units("1_2_5_25_27")] == [1, 2, 5, 25, 27]  # NetFACS
    assert [u.au for u in parse_action_units("AU6, au12")] == [6, 12]
    assert parse_action_units("") == parse_action_units("0") == parse_action_units(None) == ()
    with pytest.raises(ValueError, match="'1.7' is not a FACS action unit"):
        parse_action_units("4_7_9_1.7")


# ------------------------------------------------------------------------------ mapping
def test_the_synthetic_faces_and_the_bank_share_one_mapping():
    from facevlm.synthetic.ict_facekit import head

    assert head.AU_SHAPES is facs.AU_SHAPES


def test_happiness_units_move_the_cheeks_and_the_smile_and_nothing_else():
    assert set(_channels(arkit_weights({6: 1.0, 12: 1.0}))) == {
        "cheekSquintLeft",
        "cheekSquintRight",
        "mouthSmileLeft",
        "mouthSmileRight",
    }


def test_a_one_sided_unit_moves_its_side_and_sums_are_clipped():
    # FACS' L is the subject's left, image right: the second weight of an activation
    units = parse_action_units("L12")
    weights = _channels(arkit_weights(draw_activation(units, np.random.default_rng(0))))
    assert set(weights) == {"mouthSmileLeft"}
    # AU23 and AU24 both press the lips (0.5 + 1.0): clipped to the landmarker's range
    assert _channels(arkit_weights({23: 1.0, 24: 1.0}))["mouthPressLeft"] == 1.0
    # an ICT-only shape (AU6's cheekRaiser) has no channel; a one-channel shape takes the mean
    assert _channels(arkit_weights({26: (1.0, 0.0)})) == {"jawOpen": 0.25}
    with pytest.raises(KeyError, match="action unit 31"):
        arkit_weights({31: 1.0})


def test_the_channels_the_landmarker_never_moves_come_from_codes():
    coded = {
        "noseSneerLeft": 9,
        "noseSneerRight": 9,
        "cheekSquintLeft": 6,
        "cheekSquintRight": 6,
        "cheekPuff": 34,
        "jawForward": 29,
    }
    assert set(coded) == set(CODED_ONLY_CHANNELS)
    for channel, au in coded.items():
        assert channel in _channels(arkit_weights({au: 1.0})), (channel, au)


def test_a_coded_intensity_is_used_and_a_missing_one_drawn_within_the_range():
    activation = draw_activation(parse_action_units("12C+6"), np.random.default_rng(0), (0.7, 0.9))
    assert activation[12] == (0.6, 0.6)
    assert 0.7 <= activation[6][0] == activation[6][1] <= 0.9
    with pytest.raises(ValueError, match="intensity_range"):
        draw_activation((), np.random.default_rng(0), (0.9, 0.2))


# ------------------------------------------------------------------- CK+ codes as shipped
def test_every_ckplus_peak_frame_is_a_row_in_the_projects_names(ckplus):
    bank, report = ckplus
    assert len(bank) == 327 and bank["subject"].nunique() == 118
    assert report.empty  # every unit CK+ codes has ARKit channels
    assert set(bank["kind"]) == {FACS} and set(bank["source"]) == {"ckplus_netfacs"}
    assert bank["emotion"].value_counts().to_dict() == {
        "surprise": 83,
        "happiness": 69,  # NetFACS spells it "happy"
        "disgust": 59,
        "anger": 45,
        "sadness": 28,
        "fear": 25,
        "contempt": 18,
    }
    assert bank["item"].is_unique


def test_ckplus_codes_map_to_the_weights_their_units_name(ckplus):
    bank, _ = ckplus
    rows = bank.set_index("item")
    happy = rows.loc["S010_006"]  # happiness, 6+12+16+25
    assert happy["action_units"] == "6+12+16+25"
    assert min(happy[c] for c in ("cheekSquintLeft", "mouthSmileLeft", "mouthSmileRight")) > 0.4
    assert happy["browDownLeft"] == happy["noseSneerLeft"] == 0.0
    disgust = rows.loc["S005_001"]  # 9+17
    assert disgust["noseSneerLeft"] > 0.5 and disgust["mouthShrugLower"] > 0.5
    surprise = rows.loc["S010_002"]  # 1+2+5+25+27
    assert min(surprise[c] for c in ("browInnerUp", "browOuterUpLeft", "eyeWideRight")) > 0.5
    assert surprise["jawOpen"] > 0.25 and surprise["mouthSmileLeft"] == 0.0
    # the units kept as coded, with the weights they were given, to pose a face from
    activation = activation_from_json(surprise["au_activation"])
    assert sorted(activation) == [1, 2, 5, 25, 27]
    assert all(0.6 <= left == right <= 1.0 for left, right in activation.values())


def test_the_draws_are_seeded_and_a_rows_weights_do_not_depend_on_the_others(ckplus, tmp_path):
    bank, _ = ckplus
    weights = list(WEIGHT_COLUMNS)
    again, _ = _bank(SHIPPED)
    pd.testing.assert_frame_equal(bank, again)
    other_seed, _ = _bank(SHIPPED, seed=1)
    assert not np.allclose(bank[weights].to_numpy(), other_seed[weights].to_numpy())

    config = ExpressionBankConfig.from_params({"facs_tables": SHIPPED})
    shipped = pd.read_csv(config.facs_tables["ckplus_netfacs"].file())
    few = tmp_path / "few.csv"
    shipped.iloc[::-7].to_csv(few, index=False)  # fewer rows, in another order
    subset, _ = _bank({"ckplus_netfacs": {"path": str(few)}})
    expected = bank.set_index("item").loc[subset["item"], weights]
    np.testing.assert_array_equal(subset.set_index("item")[weights].to_numpy(), expected.to_numpy())


# ------------------------------------------------------------------------- other tables
def test_a_wide_table_of_0_1_unit_columns_reads_as_the_notation(tmp_path):
    wide = pd.DataFrame(
        {"subject": ["a", "b"], "emotion": ["happy", "sad"], "AU6": [1, 0], "AU12": [1, 0]}
        | {"1": [0, 1], "15": [0, 1], "item": ["x", "y"]}
    )
    long = wide[["subject", "emotion", "item"]].assign(action_units=["6+12", "1+15"])
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long.to_csv(tmp_path / "long.csv", index=False)
    from_wide, _ = _bank({"t": {"path": str(tmp_path / "wide.csv")}})
    from_long, _ = _bank({"t": {"path": str(tmp_path / "long.csv")}})
    pd.testing.assert_frame_equal(from_wide, from_long)
    assert list(from_wide["action_units"]) == ["6+12", "1+15"]

    wide.assign(AU12=[3, 0]).to_csv(tmp_path / "graded.csv", index=False)
    with pytest.raises(ValueError, match="'AU12' holds values other than 0 and 1"):
        _bank({"t": {"path": str(tmp_path / "graded.csv")}})


def test_rows_it_cannot_read_are_reported_and_a_unit_without_a_channel_is_noted(tmp_path):
    table = pd.DataFrame(
        {
            "subject": ["a", "b", "c", ""],
            "emotion": ["anger", "awe", "fear", "fear"],
            "action_units": ["4+7+31", "1+2", "1+2+5x", "1+2"],
        }
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    bank, report = _bank({"mine": {"path": str(tmp_path / "t.csv")}})

    assert list(bank["item"]) == ["row 1"]  # no item column: rows by number
    assert bank.loc[0, "action_units"] == "4+7+31"  # as coded; 31 has no channel to weigh
    assert sorted(activation_from_json(bank.loc[0, "au_activation"])) == [4, 7]
    reasons = dict(zip(report["item"], report["reason"], strict=True))
    assert reasons["row 1"] == "AU 31: no ARKit blend shape, left out of its weights"
    assert "'awe' is not one of the bank's emotions" in reasons["row 2"]
    assert "'5x' is not a FACS action unit" in reasons["row 3"]
    assert reasons["row 4"] == "no subject"
    assert report.set_index("item")["in_bank"].to_dict() == {
        "row 1": True,
        "row 2": False,
        "row 3": False,
        "row 4": False,
    }
    with pytest.raises(ExpressionBankError, match="mine: row 2: emotion 'awe'"):
        _bank({"mine": {"path": str(tmp_path / "t.csv")}}, fail_fast=True)  # row 1 is kept


def test_a_tables_own_labels_and_the_kept_emotions_are_parameters(tmp_path):
    pd.DataFrame({"subject": ["a", "b"], "emotion": ["3", "7"], "action_units": ["9", ""]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    tables = {"t": {"path": str(tmp_path / "t.csv"), "labels": {3: "disgust", 7: "neutral"}}}
    bank, _ = _bank(tables)
    assert list(bank["emotion"]) == ["disgust", "neutral"]
    assert bank.loc[1, list(WEIGHT_COLUMNS)].sum() == 0.0  # neutral: no unit, no weight
    only_basic, report = _bank(tables, emotions=[e for e in BANK_EMOTIONS if e != "neutral"])
    assert list(only_basic["emotion"]) == ["disgust"] and list(report["item"]) == ["row 2"]


def test_a_table_whose_path_is_unset_is_switched_off():
    bank, report = _bank({"ckplus_netfacs": {"path": None}})
    assert bank.empty and report.empty


def test_the_documented_mapping_is_the_mapping():
    """docs/expression-bank.md lists every unit's channels; a change to the tables changes it."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "expression-bank.md").read_text()
    documented = {}
    for au, channels in re.findall(r"^\| (\d+) \| [^|]+ \| ([^|]+) \|", page, flags=re.M):
        pairs = re.findall(r"`(\w+)` ([\d.]+)", channels)
        documented[int(au)] = {name: float(weight) for name, weight in pairs}
    assert documented == {**facs.AU_SHAPES, **facs.CODED_AU_SHAPES}

"""BU-3DFE discovery: metadata from ``<SUBJ>_<EXP><II><RACE>_<KIND>.<ext>`` names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_files import bu3dfe_tree, write_wrl

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.base import Rejected, ScanRecord, get_layout
from facevlm.scans.layouts.bu3dfe import ETHNICITIES, EXPRESSIONS, parse_name


def discover(root: Path, options: dict | None = None) -> tuple[list[ScanRecord], list[Rejected]]:
    found = list(get_layout("bu3dfe").discover(root, options))
    return [c for c in found if isinstance(c, ScanRecord)], [
        c for c in found if isinstance(c, Rejected)
    ]


# ---------------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("F0001_AN01WH_F3D.wrl", ("F0001", "anger", 1, "white", "F3D", "female")),
        ("M0044_HA04BL_RAW.wrl", ("M0044", "happiness", 4, "black", "RAW", "male")),
        ("F0056_NE00AE_F3D.bnd", ("F0056", "neutral", 0, "east asian", "F3D", "female")),
        ("M0010_SU02LA_F2D.bmp", ("M0010", "surprise", 2, "hispanic/latino", "F2D", "male")),
        ("F0002_DI03AM_F3D.wrl", ("F0002", "disgust", 3, "middle-east asian", "F3D", "female")),
        ("F0003_FE01IN_F3D.wrl", ("F0003", "fear", 1, "indian", "F3D", "female")),
        ("F0004_SA04WH_F3D.wrl", ("F0004", "sadness", 4, "white", "F3D", "female")),
    ],
)
def test_parse_name_reads_every_field(name: str, expected: tuple) -> None:
    p = parse_name(name)
    assert (p.subject, p.expression, p.intensity, p.ethnicity, p.kind, p.gender) == expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("F0001_AN01WH.wrl", "does not follow"),
        ("F0001_XX01WH_F3D.wrl", "expression code"),
        ("F0001_NE01WH_F3D.wrl", "NE00"),
        ("F0001_AN00WH_F3D.wrl", "intensity"),
        ("F0001_AN05WH_F3D.wrl", "intensity"),
        ("F0001_AN01ZZ_F3D.wrl", "race code"),
        ("F0001_AN01WH_F4D.wrl", "file kind"),
        ("X0001_AN01WH_F3D.wrl", "subject"),
        ("F001_AN01WH_F3D.wrl", "subject"),
    ],
)
def test_parse_name_says_what_is_wrong(name: str, reason: str) -> None:
    with pytest.raises(ScanError, match=reason):
        parse_name(name)


@given(st.text(max_size=40))
def test_parse_name_never_crashes(name: str) -> None:
    try:
        parse_name(name)
    except ScanError as error:
        assert error.reason


@given(
    st.sampled_from("FM"), st.integers(1, 9999), st.sampled_from(sorted(EXPRESSIONS)),
    st.integers(1, 4), st.sampled_from(sorted(ETHNICITIES)), st.sampled_from(["F3D", "RAW"]),
)  # fmt: skip
def test_parse_name_round_trips_valid_names(g, number, code, intensity, race, kind) -> None:
    intensity = 0 if code == "NE" else intensity
    p = parse_name(f"{g}{number:04d}_{code}{intensity:02d}{race}_{kind}.wrl")
    assert p.subject == f"{g}{number:04d}"
    assert p.expression == EXPRESSIONS[code]
    assert p.intensity == intensity
    assert p.ethnicity == ETHNICITIES[race]
    assert p.kind == kind


# ---------------------------------------------------------------------------------- discovery
def test_discovers_every_f3d_scan_with_its_metadata(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    records, rejected = discover(tree.root)
    assert rejected == []
    assert sorted(r.path for r in records) == sorted(tree.good)
    for r in records:
        subject, code_race, kind = r.path.stem.split("_")
        assert r.dataset == "bu3dfe"
        assert r.subject == subject == r.path.parent.name
        assert r.gender == {"F": "female", "M": "male"}[subject[0]]
        assert r.ethnicity == {"WH": "white", "AE": "east asian"}[code_race[4:]]
        assert r.expression == EXPRESSIONS[code_race[:2]]
        assert r.intensity == int(code_race[2:4])
        assert r.label_set == "basic"
        assert (r.sequence, r.frame, r.n_frames, r.age) == (None, None, None, None)
        assert r.texture_path == r.path.with_name(f"{subject}_{code_race}_F3D.bmp")
        assert r.landmarks_path == r.path.with_suffix(".bnd")
        assert kind == "F3D" and r.extra == {"kind": "F3D"}


def test_raw_option_indexes_raw_scans_textured_by_the_f3d_atlas(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    records, _ = discover(tree.root, {"kind": "RAW"})
    assert len(records) == len(tree.good)
    for r in records:
        assert r.path.name.endswith("_RAW.wrl")
        assert r.texture_path.name == r.path.name.replace("_RAW.wrl", "_F3D.bmp")
        assert r.landmarks_path is None  # .bnd indices refer to the F3D mesh


def test_neutral_can_be_left_out(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    records, _ = discover(tree.root, {"include_neutral": False})
    assert {r.expression for r in records} == {"anger", "happiness"}


def test_bad_kind_option_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="F3D"):
        discover(tmp_path, {"kind": "F2D"})


def test_names_breaking_the_grammar_are_rejected_with_the_reason(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE", corrupt=True)
    records, rejected = discover(tree.root)
    grammar = {p: r for p, r in tree.bad.items() if r not in ("", "texture")}
    assert {r.path for r in rejected} == set(grammar)
    for r in rejected:
        assert grammar[r.path] in r.reason
        assert r.stage == "discover"
    # corrupt content is not discovery's business: those are candidates for the index to read
    assert {p for p, r in tree.bad.items() if r in ("", "texture")} <= {r.path for r in records}


def test_strays_viewer_folder_and_non_subject_folders_are_silent(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    write_wrl(tree.root / "docs" / "F0009_AN01WH_F3D.wrl")  # not a subject folder
    records, rejected = discover(tree.root)
    seen = {r.path for r in records} | {r.path for r in rejected}
    assert not seen & set(tree.strays)
    assert all(r.path.parent.name in ("F0001", "M0002") for r in records)
    assert rejected == []


def test_misplaced_scans_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "BU-3DFE"
    write_wrl(root / "F0001_AN01WH_F3D.wrl")
    write_wrl(root / "F0002" / "F0001_AN02WH_F3D.wrl")
    _, rejected = discover(root)
    reasons = {r.path.name: r.reason for r in rejected}
    assert "outside a subject folder" in reasons["F0001_AN01WH_F3D.wrl"]
    assert "inside folder F0002" in reasons["F0001_AN02WH_F3D.wrl"]

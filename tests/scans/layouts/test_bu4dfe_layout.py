"""BU-4DFE discovery: one record per frame of ``<subject>/<Expression>/<NNN>.wrl``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_files import bu4dfe_tree, write_wrl

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.base import Rejected, ScanRecord, get_layout
from facevlm.scans.layouts.bu4dfe import parse_expression_folder, parse_frame_name


def discover(root: Path, options: dict | None = None) -> tuple[list[ScanRecord], list[Rejected]]:
    found = list(get_layout("bu4dfe").discover(root, options))
    return [c for c in found if isinstance(c, ScanRecord)], [
        c for c in found if isinstance(c, Rejected)
    ]


@pytest.mark.parametrize(
    ("folder", "expression"),
    [("Angry", "anger"), ("Disgust", "disgust"), ("Fear", "fear"), ("Happy", "happiness"),
     ("Sad", "sadness"), ("Surprise", "surprise"), ("happy", "happiness")],
)  # fmt: skip
def test_expression_folders_map_to_canonical_names(folder: str, expression: str) -> None:
    assert parse_expression_folder(folder) == expression


@given(st.text(max_size=12))
def test_frame_name_parser_never_crashes(name: str) -> None:
    try:
        assert parse_frame_name(name) >= 0
    except ScanError as error:
        assert "frame name" in error.reason


def test_every_frame_is_a_record_with_sequence_metadata(tmp_path: Path) -> None:
    tree = bu4dfe_tree(tmp_path / "BU-4DFE")
    records, rejected = discover(tree.root)
    assert rejected == []
    assert sorted(r.path for r in records) == sorted(tree.good)
    for r in records:
        subject, folder = r.path.parts[-3], r.path.parts[-2]
        assert r.dataset == "bu4dfe"
        assert r.subject == subject
        assert r.gender == ("female" if subject.startswith("F") else "male")
        assert r.expression == parse_expression_folder(folder)
        assert r.sequence == f"{subject}/{folder}"
        assert r.frame == int(r.path.stem)
        assert r.texture_path == r.path.with_suffix(".jpg")
        assert r.landmarks_path is None  # no landmarks_root given
        assert r.intensity is None and r.ethnicity is None
    n_frames = {r.sequence: r.n_frames for r in records}
    assert n_frames == {"F001/Happy": 12, "F001/Sad": 3, "M002/Surprise": 3}


def test_frames_come_in_numeric_order_whatever_the_padding(tmp_path: Path) -> None:
    seq = tmp_path / "F001" / "Happy"
    for name in ["10.wrl", "9.wrl", "100.wrl", "011.wrl", "000.wrl"]:
        (seq / name).parent.mkdir(parents=True, exist_ok=True)
        (seq / name).write_text("")
    records, _ = discover(tmp_path)
    assert [r.frame for r in records] == [0, 9, 10, 11, 100]


def test_landmark_release_is_matched_by_frame_number_and_either_suffix(tmp_path: Path) -> None:
    tree = bu4dfe_tree(tmp_path / "BU-4DFE")
    records, _ = discover(tree.root, {"landmarks_root": "BU4DFE_BND_V1.1"})
    for r in records:
        suffix = ".landmark" if r.subject == "M002" else ".bnd"
        expected = (
            tree.root
            / "BU4DFE_BND_V1.1"
            / r.subject
            / r.path.parent.name
            / f"{r.frame:03d}{suffix}"
        )
        assert r.landmarks_path == expected


def test_missing_landmark_root_is_a_configuration_error(tmp_path: Path) -> None:
    tree = bu4dfe_tree(tmp_path / "BU-4DFE", landmarks=False)
    with pytest.raises(FileNotFoundError, match="landmarks_root"):
        discover(tree.root, {"landmarks_root": "BU4DFE_BND_V1.1"})


def test_viewer_folder_landmark_release_and_strays_are_not_subjects(tmp_path: Path) -> None:
    tree = bu4dfe_tree(tmp_path / "BU-4DFE")
    records, rejected = discover(tree.root)
    assert {r.subject for r in records} == {"F001", "M002"}
    assert not ({r.path for r in records} | {r.path for r in rejected}) & set(tree.strays)


def test_frames_outside_the_grammar_are_rejected(tmp_path: Path) -> None:
    root = tmp_path / "BU-4DFE"
    write_wrl(root / "F001" / "Happy" / "000.wrl")
    bad = {
        write_wrl(root / "F001" / "Happy" / "000 copy.wrl"): "frame name",
        write_wrl(root / "F001" / "Joy" / "000.wrl"): "unknown expression folder",
        write_wrl(root / "F001" / "000.wrl"): "not in an expression folder",
        write_wrl(root / "000.wrl"): "outside a subject",
    }
    records, rejected = discover(root)
    assert [r.path.name for r in records] == ["000.wrl"]
    assert {r.path for r in rejected} == set(bad)
    for r in rejected:
        assert bad[r.path] in r.reason

"""4DME discovery: clips from the labelling spreadsheet joined to run-time-discovered folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_files import FOURDME_HEADER, fourdme_tree, write_obj, write_xlsx

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.base import Rejected, ScanRecord, frame_number, get_layout
from facevlm.scans.layouts.fourdme import id_key, parse_aus, read_labels


def discover(root: Path, options: dict | None = None) -> tuple[list[ScanRecord], list[Rejected]]:
    found = list(get_layout("4dme").discover(root, options))
    return [c for c in found if isinstance(c, ScanRecord)], [
        c for c in found if isinstance(c, Rejected)
    ]


def test_every_frame_of_every_labelled_clip_is_a_record(tmp_path: Path) -> None:
    tree = fourdme_tree(tmp_path / "4DME")
    records, _ = discover(tree.root)
    assert sorted(r.path for r in records) == sorted(tree.good)
    by_clip: dict[str, list[ScanRecord]] = {}
    for r in records:
        by_clip.setdefault(r.sequence, []).append(r)
        assert r.dataset == "4dme" and r.label_set == "micro"
        assert r.texture_path is not None and r.texture_path.stem == r.path.stem
    assert {k: [r.frame for r in v] for k, v in by_clip.items()} == {
        "S01/S01_0101": [0, 1, 2, 3],
        "S01/S01_0102": [0, 1, 2],
        "S02/S02_0201": [1, 2, 3],
    }
    first = by_clip["S01/S01_0101"][0]
    assert first.subject == "S01"
    assert first.expression == "negative"
    assert first.n_frames == 4
    assert first.extra["onset"] == 1 and first.extra["apex"] == 2 and first.extra["offset"] == 3
    assert first.extra["aus"] == "AU4+AU7(k)" and first.extra["au_list"] == ["AU4", "AU7"]
    assert first.extra["au_columns"] == {"AU4": 1.0, "AU12": None}
    assert first.extra["classes"] == ["negative"]
    assert first.extra["phases_match_frames"]
    assert not by_clip["S02/S02_0201"][0].extra["phases_match_frames"]  # onset 0, frames 1-3
    two = by_clip["S01/S01_0102"][0]
    assert two.expression == "positive" and two.extra["classes"] == ["positive", "surprise"]
    assert by_clip["S02/S02_0201"][0].expression == "others"


def test_rows_without_folders_and_folders_without_rows_are_reported(tmp_path: Path) -> None:
    tree = fourdme_tree(tmp_path / "4DME")
    _, rejected = discover(tree.root)
    assert {r.path: r.stage for r in rejected} == {p: "labels" for p in tree.bad}
    reasons = {r.path.name: r.reason for r in rejected}
    assert "row 5 but no clip folder" in reasons["S02_0299"]
    assert "no row in 4DME_Labelling_Micro_release v1.xlsx" in reasons["S02_0300"]


def test_any_single_xlsx_is_found_and_ambiguity_is_an_error(tmp_path: Path) -> None:
    tree = fourdme_tree(tmp_path / "4DME")
    sheet = tree.root / "4DME_Labelling_Micro_release v1.xlsx"
    sheet.rename(tree.root / "labels.xlsx")
    assert len(discover(tree.root)[0]) == len(tree.good)
    write_xlsx(tree.root / "other.xlsx", FOURDME_HEADER, [])
    with pytest.raises(ValueError, match="several spreadsheets"):
        discover(tree.root)
    assert len(discover(tree.root, {"labels": "labels.xlsx"})[0]) == len(tree.good)


def test_no_spreadsheet_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="xlsx"):
        discover(tmp_path)


def test_missing_columns_stop_discovery_with_their_names(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "labels.xlsx", ["sub_ID", "fold_name", "Onset"], [["S01", "S01_0101", 1]])
    with pytest.raises(ScanError, match="Apex, Offset, AUs, Positive"):
        discover(tmp_path)


def test_bad_rows_are_reported_not_fatal(tmp_path: Path) -> None:
    rows = [
        ["S01", "S01_0101", 1, "x", 3, "AU4", None, None, 1, 0, 0, 0, 0],
        [None, "S01_0102", 1, 2, 3, "AU4", None, None, 1, 0, 0, 0, 0],
        ["S01", "s1_101", 1, 2, "/", "AU4", None, None, 0, 0, 0, 0, 1],
        ["S01", "S01_0101", 1, 2, 3, "AU4", None, None, 1, 0, 0, 0, 0],
    ]
    path = write_xlsx(tmp_path / "labels.xlsx", FOURDME_HEADER, rows)
    labels, rejected = read_labels(path)
    assert [(lab.row, lab.offset) for lab in labels] == [(4, None), (5, 3)]
    assert ["Apex 'x'" in r.reason or "empty sub_ID" in r.reason for r in rejected] == [True, True]
    write_obj(tmp_path / "S01" / "S01_0101" / "000.obj")
    records, rejected = discover(tmp_path)
    assert any("duplicate of row 4" in r.reason for r in rejected)  # same clip, other spelling
    assert [r.extra["offset"] for r in records] == [None]


def test_frame_format_option_and_auto_prefers_obj(tmp_path: Path) -> None:
    tree = fourdme_tree(tmp_path / "4DME")
    from layout_files import write_wrl

    write_wrl(tree.root / "S01" / "S01_0101" / "frame_000.wrl")
    records, _ = discover(tree.root)
    assert all(r.path.suffix == ".obj" for r in records if r.sequence == "S01/S01_0101")
    records, rejected = discover(tree.root, {"frame_format": "wrl"})
    assert {r.sequence for r in records} == {"S01/S01_0101", "S01/S01_0102"}
    assert any("no WRL frames" in r.reason for r in rejected)


def test_id_matching_ignores_case_and_zero_padding_only() -> None:
    assert id_key("S01") == id_key("s1") == id_key("S001")
    assert id_key("S01") != id_key("1")


def test_au_strings() -> None:
    assert parse_aus("AU4+AU7(k)") == ["AU4", "AU7"]
    assert parse_aus("") == []


@given(st.text(max_size=30))
def test_label_and_frame_parsers_never_crash(text: str) -> None:
    assert all(au.startswith("AU") for au in parse_aus(text))
    assert id_key(id_key(text)) == id_key(text)
    try:
        assert frame_number(Path(text or "x").with_suffix(".obj")) >= 0
    except (ScanError, ValueError) as error:  # ValueError: Path.with_suffix on odd names
        assert str(error)

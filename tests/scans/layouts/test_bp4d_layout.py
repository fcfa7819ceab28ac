"""BP4D-Spontaneous discovery: per-frame OBJ meshes, task labels and AU occurrence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_files import bp4d_tree, write_obj

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.base import Rejected, ScanRecord, get_layout
from facevlm.scans.layouts.bp4d import (
    BASIC_TASKS,
    TASK_EMOTIONS,
    parse_frame_stem,
    read_au_occurrence,
)


def discover(root: Path, options: dict | None = None) -> tuple[list[ScanRecord], list[Rejected]]:
    found = list(get_layout("bp4d").discover(root, options))
    return [c for c in found if isinstance(c, ScanRecord)], [
        c for c in found if isinstance(c, Rejected)
    ]


def test_task_map_and_basic_tasks_follow_the_literature() -> None:
    assert TASK_EMOTIONS == {
        "T1": "happiness", "T2": "sadness", "T3": "surprise", "T4": "embarrassment",
        "T5": "fear", "T6": "pain", "T7": "anger", "T8": "disgust",
    }  # fmt: skip
    assert BASIC_TASKS == ("T1", "T2", "T3", "T5", "T7", "T8")


@given(st.text(max_size=8))
def test_frame_stem_parser_never_crashes(stem: str) -> None:
    try:
        parse_frame_stem(stem)
    except ScanError as error:
        assert "frame name" in error.reason


def test_three_and_four_digit_frames_are_the_same_numbers() -> None:
    assert parse_frame_stem("0012") == parse_frame_stem("012") == 12


def test_basic_tasks_by_default_with_frame_metadata(tmp_path: Path) -> None:
    tree = bp4d_tree(tmp_path / "BP4D")
    records, rejected = discover(tree.root)
    assert rejected == []
    assert sorted(r.path for r in records) == sorted(tree.good)  # T4 left out
    for r in records:
        subject, task = r.path.parts[-3], r.path.parts[-2]
        assert r.dataset == "bp4d"
        assert r.subject == subject
        assert r.gender == ("female" if subject[0] == "F" else "male")
        assert r.expression == TASK_EMOTIONS[task]
        assert r.label_set == "basic"
        assert r.sequence == f"{subject}/{task}"
        assert r.frame == int(r.path.stem)
        assert r.texture_path == r.path.with_suffix(".jpg")
        assert r.extra["task"] == task
    assert {r.sequence: r.n_frames for r in records} == {"F001/T1": 4, "M002/T8": 3}
    assert [r.frame for r in records if r.sequence == "F001/T1"] == [1, 2, 3, 4]


def test_au_occurrence_is_joined_by_frame_with_9_as_not_coded(tmp_path: Path) -> None:
    tree = bp4d_tree(tmp_path / "BP4D")
    records, _ = discover(tree.root)
    aus = {r.frame: r.extra["au_occurrence"] for r in records if r.sequence == "F001/T1"}
    assert aus[1] == {"AU1": 0, "AU2": 1, "AU4": 0}
    assert aus[2] == {"AU1": 1, "AU2": None, "AU4": 0}
    assert aus[3] == {"AU1": 1, "AU2": 1, "AU4": 1}
    assert aus[4] is None  # outside the coded range
    assert all(r.extra["au_occurrence"] is None for r in records if r.sequence == "M002/T8")


def test_tasks_option(tmp_path: Path) -> None:
    tree = bp4d_tree(tmp_path / "BP4D")
    everything, _ = discover(tree.root, {"tasks": "all"})
    t4 = [r for r in everything if r.extra["task"] == "T4"]
    assert len(t4) == 2 and all(
        r.expression == "embarrassment" and r.label_set == "task" for r in t4
    )
    only, _ = discover(tree.root, {"tasks": ["t8"]})
    assert {r.sequence for r in only} == {"M002/T8"}
    with pytest.raises(ValueError, match="tasks"):
        discover(tree.root, {"tasks": ["T9"]})


def test_root_may_be_the_sequences_folder_itself(tmp_path: Path) -> None:
    tree = bp4d_tree(tmp_path / "BP4D")
    records, _ = discover(tree.root / "Sequences(2D+3D)")
    assert len(records) == len(tree.good)


def test_broken_au_csv_is_reported_and_frames_kept(tmp_path: Path) -> None:
    tree = bp4d_tree(tmp_path / "BP4D")
    csv = tree.root / "AUCoding" / "AU_OCC" / "F001_T1.csv"
    csv.write_text("frame,1,2\n1,0,7\n")
    records, rejected = discover(tree.root)
    assert len(records) == len(tree.good)
    assert [(r.path, r.stage) for r in rejected] == [(csv, "labels")]
    assert "not 0, 1 or 9" in rejected[0].reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "no data rows"), ("frame,1\nx,0\n", "non-numeric"), ("frame,1,2\n1,0\n", "columns")],
)
def test_au_csv_errors_name_the_problem(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "F001_T1.csv"
    path.write_text(text)
    with pytest.raises(ScanError, match=reason):
        read_au_occurrence(path)


def test_bad_frames_and_tasks_are_rejected(tmp_path: Path) -> None:
    seq = tmp_path / "Sequences(2D+3D)"
    write_obj(seq / "F001" / "T1" / "0001.obj")
    bad = {
        write_obj(seq / "F001" / "T1" / "001.obj"): "duplicate frame 1",
        write_obj(seq / "F001" / "T1" / "last.obj"): "frame name",
        write_obj(seq / "F001" / "T9" / "0001.obj"): "unknown task",
    }
    records, rejected = discover(tmp_path)
    assert [r.path.name for r in records] == ["0001.obj"]
    assert {r.path: r.reason for r in rejected}.keys() == bad.keys()
    assert all(bad[r.path] in r.reason for r in rejected)

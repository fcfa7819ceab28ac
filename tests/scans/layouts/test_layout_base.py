"""The shared discovery contract: stray detection, option parsing, the layout registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.base import (
    LAYOUT_NAMES,
    Layout,
    base_dataset,
    frame_number,
    gender_from_subject,
    get_layout,
    is_stray,
    list_dir,
    parse_options,
)


@pytest.mark.parametrize(
    "name", [".DS_Store", "._F0001_AN01WH_F3D.wrl", "Thumbs.db", "desktop.ini", "__MACOSX",
             "F0001_AN01WH_F2D_thumb.jpg", "thumb_000.jpg", ".hidden.wrl"],
)  # fmt: skip
def test_os_and_viewer_litter_is_stray(name: str) -> None:
    assert is_stray(name)


@pytest.mark.parametrize(
    "name", ["F0001_AN01WH_F3D.wrl", "000.wrl", "bs000_N_N_0.bnt", "F001", "T1"]
)
def test_scan_files_and_folders_are_not_stray(name: str) -> None:
    assert not is_stray(name)


def test_list_dir_skips_strays_and_sorts(tmp_path: Path) -> None:
    for name in ["b.wrl", "a.wrl", ".DS_Store", "._a.wrl"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "__MACOSX").mkdir()
    dirs, files = list_dir(tmp_path)
    assert [d.name for d in dirs] == ["sub"]
    assert [f.name for f in files] == ["a.wrl", "b.wrl"]


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("BU-3DFE", "bu3dfe"), ("bu_4dfe", "bu4dfe"), ("Bosphorus", "bosphorus"),
     ("BP4D-Spontaneous", "bp4d"), ("4DME", "4dme"), ("synthetic", "synthetic")],
)  # fmt: skip
def test_registry_accepts_the_usual_spellings(spelling: str, name: str) -> None:
    layout = get_layout(spelling)
    assert layout.name == name
    assert isinstance(layout, Layout)


def test_registry_knows_every_dataset_and_rejects_others() -> None:
    assert set(LAYOUT_NAMES) == {"synthetic", "bu3dfe", "bu4dfe", "bosphorus", "bp4d", "4dme"}
    with pytest.raises(KeyError, match="expected one of"):
        get_layout("casme")


def test_unknown_options_are_an_error_not_ignored() -> None:
    @dataclass(frozen=True)
    class Opts:
        kind: str = "F3D"

    assert parse_options(Opts, None, where="x") == Opts()
    with pytest.raises(ValueError, match="unknown option.*knd"):
        parse_options(Opts, {"knd": "RAW"}, where="x")


def test_every_layout_rejects_unknown_options(tmp_path: Path) -> None:
    for name in LAYOUT_NAMES:
        with pytest.raises(ValueError, match="unknown option"):
            list(get_layout(name).discover(tmp_path, {"no_such_option": 1}))


def test_missing_root_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        list(get_layout("bu3dfe").discover(tmp_path / "nowhere"))


def test_frame_number_is_the_trailing_number_of_the_stem() -> None:
    assert frame_number(Path("frame_0012.obj")) == 12
    assert frame_number(Path("000.wrl")) == 0
    with pytest.raises(ScanError, match="frame number"):
        frame_number(Path("apex.obj"))


def test_gender_and_dataset_helpers() -> None:
    assert gender_from_subject("F0001") == "female"
    assert gender_from_subject("M001") == "male"
    assert gender_from_subject("bs000") is None
    assert base_dataset("synthetic-bu3dfe") == "bu3dfe"
    assert base_dataset("bp4d") == "bp4d"

"""Issue 13 through ingest: every hostile entry is indexed, quarantined or skipped with a reason,
the counts add up, and an unreadable folder is quarantined rather than fatal.

The dataset is a small BU-3DFE tree (two subjects of good scans) into which each hostile case of
the issue is dropped under a name the layout accepts. The reader-level and CLI checks of the same
cases are in ``test_hostile_inputs.py``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pytest
from _hostile_files import (
    OUTSIDE_TARGET,
    bomb_png,
    small_mesh,
    sparse_zero_bnt,
    vrml_with_text,
)
from PIL import Image

from facevlm.scans.formats import write_vrml
from facevlm.scans.layouts import accounting as accounting_module
from facevlm.scans.layouts import base as base_module
from facevlm.scans.layouts import build_scan_index
from facevlm.scans.layouts.accounting import Accounting

GOOD = [("F0001", "AN01WH"), ("F0001", "HA02WH"), ("M0002", "AN01AE"), ("M0002", "HA02AE")]


def scan(root: Path, subject: str, code: str, *, texture: bool = True) -> Path:
    """``<root>/<subject>/<subject>_<code>_F3D.wrl`` naming its ``.bmp`` atlas (written if asked)."""
    folder = root / subject
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{subject}_{code}_F3D"
    write_vrml(folder / f"{stem}.wrl", small_mesh(), texture_url=f"{stem}.bmp")
    if texture:
        Image.new("RGB", (8, 8), (200, 150, 120)).save(folder / f"{stem}.bmp")
    return folder / f"{stem}.wrl"


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A BU-3DFE root with good scans and one entry per hostile case; returns the root and
    ``{entry name: (expected stage, reason fragment)}``."""
    root = tmp_path / "BU-3DFE"
    for subject, code in GOOD:
        scan(root, subject, code)
    f, m = root / "F0001", root / "M0002"
    outside = tmp_path / "outside"
    outside.mkdir()
    expected: dict[str, tuple[str, str]] = {}

    # 1. symlinks leading out of the root: a texture, and the scan itself
    scan(root, "F0001", "SA01WH", texture=False)
    os.symlink(OUTSIDE_TARGET, f / "F0001_SA01WH_F3D.bmp")
    expected["F0001_SA01WH_F3D.wrl"] = ("read", f"resolves to {OUTSIDE_TARGET}")
    write_vrml(outside / "x.wrl", small_mesh(), texture_url="x.bmp")
    os.symlink(outside / "x.wrl", m / "M0002_SA01AE_F3D.wrl")
    expected["M0002_SA01AE_F3D.wrl"] = ("read", "outside the dataset root")
    # 2. a decompression-bomb texture
    scan(root, "F0001", "FE01WH", texture=False)
    (f / "F0001_FE01WH_F3D.bmp").write_bytes(bomb_png())
    expected["F0001_FE01WH_F3D.wrl"] = ("texture", "decompression bomb")
    # 3. special files named like scans
    if hasattr(os, "mkfifo"):
        os.mkfifo(f / "F0001_DI01WH_F3D.wrl")
        expected["F0001_DI01WH_F3D.wrl"] = ("read", "a FIFO")
    os.symlink("/dev/zero", f / "F0001_DI02WH_F3D.wrl")
    expected["F0001_DI02WH_F3D.wrl"] = ("read", "resolves to /dev/zero")
    # 4. the 640 MB all-zero grid is not a BU-3DFE name: a .bnt in this root is skipped
    sparse_zero_bnt(m / "big.bnt")
    expected["big.bnt"] = ("skipped", "not indexed by the bu3dfe layout: excluded by its")
    # 6. a 300-character texture url: a texture problem, not an unreadable scan
    write_vrml(m / "M0002_FE01AE_F3D.wrl", small_mesh(), texture_url="b" * 300 + ".bmp")
    expected["M0002_FE01AE_F3D.wrl"] = ("texture", "missing texture")
    # 7. entries that used to vanish: a dangling link, a folder named like a scan
    os.symlink(root / "nowhere.wrl", m / "M0002_DI01AE_F3D.wrl")
    expected["M0002_DI01AE_F3D.wrl"] = ("read", "dangling symbolic link")
    (f / "F0003_SA02AE_F3D.wrl").mkdir()  # a folder, and of the wrong subject: discover stage
    expected["F0003_SA02AE_F3D.wrl"] = ("discover", "subject F0003 inside folder F0001")
    (m / "M0002_SU01AE_F3D.wrl").mkdir()
    expected["M0002_SU01AE_F3D.wrl"] = ("read", "is a directory, not a file")
    # 8. an index written 1_000
    vrml_with_text(m / "M0002_SU02AE_F3D.wrl", "0 1 4 3 -1", "0 1_000 4 3 -1")
    Image.new("RGB", (8, 8)).save(m / "M0002_SU02AE_F3D.bmp")
    expected["M0002_SU02AE_F3D.wrl"] = ("read", "'_' digit separators")
    return root, expected


def run(root: Path, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame, Accounting]:
    counts: list[Accounting] = []
    index, quarantine = build_scan_index(
        "bu3dfe", root, progress=False, accounting=counts, **kwargs
    )
    return index, quarantine, counts[0]


def test_every_hostile_entry_is_accounted_for_with_its_reason(hostile):
    root, expected = hostile
    index, quarantine, counts = run(root)

    assert sorted(Path(p).name for p in index["path"]) == sorted(
        f"{s}_{c}_F3D.wrl" for s, c in GOOD
    )
    rows = {Path(p).name: (stage, reason) for p, stage, reason in
            quarantine[["path", "stage", "reason"]].itertuples(index=False)}  # fmt: skip
    for name, (stage, fragment) in expected.items():
        assert name in rows, f"{name} is neither indexed nor reported"
        assert rows[name][0] == stage, (name, rows[name])
        assert fragment in rows[name][1], (name, rows[name])
    assert not quarantine["reason"].str.contains("unexpected").any()
    # nothing indexed under a path outside the root, no texture outside it
    real_root = os.path.realpath(root)
    for column in ("path", "texture_path"):
        assert all(os.path.realpath(p).startswith(real_root) for p in index[column].dropna())
    # the counts add up
    assert counts.entries == counts.indexed + counts.quarantined + counts.skipped
    assert counts.entries == len(GOOD) + len(expected)
    assert counts.indexed == len(index)
    assert counts.skipped == (quarantine["stage"] == "skipped").sum()


def test_the_run_log_prints_counts_that_add_up(hostile, caplog):
    root, expected = hostile
    with caplog.at_level(logging.INFO, logger="facevlm.scans.layouts.scan_index"):
        run(root)
    n = len(GOOD) + len(expected)
    assert any(
        f"{n} scan-like entries = {len(GOOD)} indexed + " in record.getMessage()
        and "MISMATCH" not in record.getMessage()
        for record in caplog.records
    ), [r.getMessage() for r in caplog.records]


def test_a_long_texture_name_is_indexed_untextured_when_missing_textures_are_allowed(hostile):
    root, _ = hostile
    index, quarantine, _ = run(root, allow_missing_texture=True)
    row = index[index["path"].str.endswith("M0002_FE01AE_F3D.wrl")]
    assert len(row) == 1 and not row["has_texture"].item()
    bomb = index[index["path"].str.endswith("F0001_FE01WH_F3D.wrl")]
    assert len(bomb) == 1 and pd.isna(bomb["texture_path"].item())  # the bomb is never used
    # a texture leading outside the root refuses the scan even then
    escaped = quarantine[quarantine["path"].str.endswith("F0001_SA01WH_F3D.wrl")]
    assert escaped["reason"].str.contains("outside").all() and len(escaped) == 1


def test_the_limits_are_passed_to_every_read(hostile):
    root, _ = hostile
    from facevlm.scans.formats.limits import ReadLimits

    index, quarantine, _ = run(root, limits=ReadLimits(max_vertices=8))
    assert index.empty
    assert quarantine["reason"].str.contains("limits.max_vertices|above the limit of 24").any()


def test_an_unreadable_folder_is_quarantined_not_fatal(hostile, monkeypatch):
    """Simulated, because tests may run as root (who can list any folder): os.scandir raises
    PermissionError for one subject folder, exactly as it does for a non-root user."""
    root, _ = hostile
    locked = str(root / "M0002")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.abspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(base_module.os, "scandir", scandir)
    monkeypatch.setattr(accounting_module.os, "scandir", scandir)
    index, quarantine, counts = run(root)
    row = quarantine[quarantine["path"] == locked]
    assert row["stage"].tolist() == ["discover"]
    assert "folder cannot be read (permission denied)" in row["reason"].item()
    assert {Path(p).parent.name for p in index["path"]} == {"F0001"}
    assert counts.entries == counts.indexed + counts.quarantined + counts.skipped


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root can list a folder without permissions; the simulated test covers this case",
)
def test_a_folder_without_permissions_is_quarantined(hostile):
    root, _ = hostile
    locked = root / "M0002"
    locked.chmod(0)
    try:
        _, quarantine, _ = run(root)
    finally:
        locked.chmod(0o755)
    row = quarantine[quarantine["path"] == str(locked)]
    assert "permission denied" in row["reason"].item()


def test_ingest_stops_with_one_message_when_nothing_can_be_indexed(tmp_path, monkeypatch):
    from facevlm.pipelines.ingest import nodes

    root = tmp_path / "BU-3DFE"
    for subject, code in GOOD:
        scan(root, subject, code, texture=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as caught:
        nodes.index_scans({"root": str(root)}, {"name": "bu3dfe", "n_workers": 1}, "cache")
    message = str(caught.value)
    assert "nothing in the dataset root" in message
    assert "4 scan-like entries = 0 indexed + 4 quarantined + 0 skipped" in message
    assert "4 x missing texture" in message
    assert str(nodes.FAILED_REPORT.resolve()) in message
    report = pd.read_csv(nodes.FAILED_REPORT)
    assert len(report) == 4 and set(report["stage"]) == {"texture"}


def test_ingest_of_an_empty_or_wrong_root_says_so(tmp_path, monkeypatch):
    from facevlm.pipelines.ingest import nodes

    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="found no file that looks like a bu3dfe scan"):
        nodes.index_scans(
            {"root": str(tmp_path / "empty")}, {"name": "bu3dfe", "n_workers": 1}, "cache"
        )


def test_ingest_reads_the_limits_from_its_parameters(tmp_path, monkeypatch):
    from facevlm.pipelines.ingest import nodes

    root = tmp_path / "BU-3DFE"
    for subject, code in GOOD:
        scan(root, subject, code)
    monkeypatch.chdir(tmp_path)
    params = {"name": "bu3dfe", "n_workers": 1, "limits": {"max_vertices": 8}}
    with pytest.raises(ValueError, match="limits.max_vertices|above the limit"):
        nodes.index_scans({"root": str(root)}, params, "cache")
    index, _ = nodes.index_scans({"root": str(root)}, {**params, "limits": {}}, "cache")
    assert len(index) == len(GOOD)

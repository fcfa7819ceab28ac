"""The scan index: every real layout ingested end to end, corrupt files quarantined, caching."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from layout_files import (
    N_VERTICES,
    bosphorus_tree,
    bp4d_tree,
    bu3dfe_tree,
    bu4dfe_tree,
    fourdme_tree,
    write_bnd,
    write_image,
    write_wrl,
)

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts import (
    INDEX_COLUMNS,
    QUARANTINE_COLUMNS,
    build_scan_index,
    extra_column,
    get_layout,
)
from facevlm.scans.layouts.base import ScanRecord
from facevlm.scans.layouts.scan_index import PoseEstimator

formats = pytest.importorskip("facevlm.scans.formats")
if not hasattr(formats, "read_mesh"):  # the readers are written concurrently
    pytest.skip("facevlm.scans.formats.read_mesh not available yet", allow_module_level=True)

TREES = {
    "bu3dfe": (bu3dfe_tree, "BU-3DFE", {}),
    "bu4dfe": (bu4dfe_tree, "BU-4DFE", {"landmarks_root": "BU4DFE_BND_V1.1"}),
    "bosphorus": (bosphorus_tree, "Bosphorus", {"subset": "all"}),
    "bp4d": (bp4d_tree, "BP4D", {}),
    "4dme": (fourdme_tree, "4DME", {}),
}


METADATA = ("dataset", "subject", "gender", "age", "ethnicity", "expression", "label_set",
            "intensity", "sequence", "frame", "n_frames")  # fmt: skip


def index(
    name: str, root: Path, options: dict | None = None, *, skipped: bool = False, **kw
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The index and the quarantine report; without ``skipped``, the report's ``skipped`` rows
    (scan-like entries the layout does not index: RAW twins, viewer samples) are left out."""
    idx, quarantine = build_scan_index(name, root, options, progress=False, **kw)
    if not skipped:
        quarantine = quarantine[quarantine["stage"] != "skipped"].reset_index(drop=True)
    return idx, quarantine


def abs_paths(paths) -> set[str]:
    return {str(Path(p).resolve()) for p in paths}


# ---------------------------------------------------------------------------------- each dataset
@pytest.mark.parametrize("name", list(TREES))
def test_every_good_scan_is_indexed_with_its_discovered_metadata(tmp_path: Path, name: str) -> None:
    build, folder, options = TREES[name]
    tree = build(tmp_path / folder)
    idx, quarantine = index(name, tree.root, options)

    assert list(idx.columns) == list(INDEX_COLUMNS)
    assert list(quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert set(idx["path"]) == abs_paths(tree.good)
    assert idx["path"].is_unique
    assert set(quarantine["path"]) == abs_paths(tree.bad)  # only 4DME's label mismatches

    discovered = {
        str(c.path.resolve()): c
        for c in get_layout(name).discover(tree.root, options)
        if isinstance(c, ScanRecord)
    }
    for row in idx.itertuples():
        record = discovered[row.path]
        for column in METADATA:
            expected, got = getattr(record, column), getattr(row, column)
            assert (pd.isna(got) and expected is None) or got == expected, (column, row.path)
        assert json.loads(row.extra) == json.loads(json.dumps(record.extra))
        assert row.n_vertices >= N_VERTICES and row.n_polygons > 0
        assert row.has_uv and row.has_texture
        assert Path(row.texture_path).is_file()
        assert row.file_size == os.path.getsize(row.path)
    if name in ("bu3dfe", "bu4dfe"):
        assert (idx["n_landmarks"] == 83).all() and idx["landmarks_path"].notna().all()
    if name == "bosphorus":
        assert (idx["n_landmarks"] == 4).all()


def test_static_and_4d_columns(tmp_path: Path) -> None:
    idx, _ = index("bu3dfe", bu3dfe_tree(tmp_path / "BU-3DFE").root)
    assert (
        idx["sequence"].isna().all() and idx["frame"].isna().all() and idx["n_frames"].isna().all()
    )
    assert str(idx["intensity"].dtype) == "Int64" and str(idx["has_uv"].dtype) == "boolean"
    seq, _ = index("bu4dfe", bu4dfe_tree(tmp_path / "BU-4DFE").root)
    happy = seq[seq["sequence"] == "F001/Happy"]
    assert happy["frame"].tolist() == list(range(12)) and (happy["n_frames"] == 12).all()


def test_texture_named_in_the_file_wins_for_bu4dfe_and_the_atlas_wins_for_bu3dfe(
    tmp_path: Path,
) -> None:
    seq = tmp_path / "BU-4DFE" / "F001" / "Happy"
    write_wrl(seq / "000.wrl", "skin_000.png")
    write_image(seq / "skin_000.png")
    write_image(seq / "000.jpg")
    write_wrl(seq / "001.wrl", "missing.png")  # url names a missing file: fall back to 001.jpg
    write_image(seq / "001.jpg")
    idx, _ = index("bu4dfe", tmp_path / "BU-4DFE")
    assert [Path(p).name for p in idx["texture_path"]] == ["skin_000.png", "001.jpg"]

    subject = tmp_path / "BU-3DFE" / "F0001"
    write_wrl(subject / "F0001_AN01WH_RAW.wrl", "F0001_AN01WH_RAW.bmp")
    write_image(subject / "F0001_AN01WH_RAW.bmp")
    write_image(subject / "F0001_AN01WH_F3D.bmp")
    idx, _ = index("bu3dfe", tmp_path / "BU-3DFE", {"kind": "RAW"})
    assert Path(idx.loc[0, "texture_path"]).name == "F0001_AN01WH_F3D.bmp"


def test_bp4d_au_labels_and_4dme_phases_are_reachable_from_extra(tmp_path: Path) -> None:
    idx, _ = index("bp4d", bp4d_tree(tmp_path / "BP4D").root)
    t1 = idx[idx["sequence"] == "F001/T1"]
    assert extra_column(t1, "au_occurrence").tolist()[1] == {"AU1": 1, "AU2": None, "AU4": 0}
    me, _ = index("4dme", fourdme_tree(tmp_path / "4DME").root)
    clip = me[me["sequence"] == "S01/S01_0101"]
    assert extra_column(clip, "apex").unique().tolist() == [2]


def test_synthetic_root_is_indexed_per_style(tmp_path: Path) -> None:
    a = bu3dfe_tree(tmp_path / "syn" / "BU-3DFE")
    b = bp4d_tree(tmp_path / "syn" / "BP4D")
    idx, quarantine = index("synthetic", tmp_path / "syn")
    assert set(idx["path"]) == abs_paths(a.good + b.good)
    assert set(idx["dataset"]) == {"synthetic-bu3dfe", "synthetic-bp4d"}
    assert quarantine.empty


def test_empty_folder_gives_empty_tables_with_the_documented_columns(tmp_path: Path) -> None:
    idx, quarantine = index("bu3dfe", tmp_path)
    assert idx.empty and list(idx.columns) == list(INDEX_COLUMNS)
    assert quarantine.empty and list(quarantine.columns) == list(QUARANTINE_COLUMNS)


# ---------------------------------------------------------------------------------- quarantine
@pytest.mark.parametrize(("name", "build", "folder"), [
    ("bu3dfe", bu3dfe_tree, "BU-3DFE"), ("bosphorus", bosphorus_tree, "Bosphorus"),
])  # fmt: skip
def test_corrupt_files_are_quarantined_strays_ignored_and_nothing_is_lost(
    tmp_path: Path, name: str, build, folder: str
) -> None:
    tree = build(tmp_path / folder, corrupt=True)
    idx, quarantine = index(name, tree.root, {"subset": "all"} if name == "bosphorus" else None)
    assert set(idx["path"]) == abs_paths(tree.good)
    assert set(quarantine["path"]) == abs_paths(tree.bad)
    assert len(idx) + len(quarantine) == len(tree.good) + len(tree.bad)
    assert not abs_paths(tree.strays) & (set(idx["path"]) | set(quarantine["path"]))
    assert (quarantine["dataset"] == name).all()
    by_path = quarantine.set_index("path")
    for path, hint in tree.bad.items():
        row = by_path.loc[str(path.resolve())]
        assert row["reason"]
        if hint:
            assert hint in row["reason"] or hint == row["stage"]
        else:
            assert row["stage"] == "read"


def test_reasons_say_what_is_wrong_with_the_content(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE", corrupt=True)
    _, quarantine = index("bu3dfe", tree.root)
    reasons = dict(
        zip(quarantine["path"].map(lambda p: Path(p).name), quarantine["reason"], strict=True)
    )
    assert "truncated" in reasons["F0001_DI02WH_F3D.wrl"]
    assert "NaN" in reasons["F0001_FE01WH_F3D.wrl"]
    assert "empty" in reasons["F0001_SA02WH_F3D.wrl"]
    assert "missing texture" in reasons["F0001_SU01WH_F3D.wrl"]


def test_a_frame_that_fails_does_not_count_in_n_frames(tmp_path: Path) -> None:
    tree = bu4dfe_tree(tmp_path / "BU-4DFE", landmarks=False)
    write_wrl(tree.root / "F001" / "Sad" / "001.wrl", "001.jpg", corrupt="truncated")
    idx, quarantine = index("bu4dfe", tree.root)
    sad = idx[idx["sequence"] == "F001/Sad"]
    assert sad["frame"].tolist() == [0, 2] and (sad["n_frames"] == 2).all()
    assert quarantine["path"].map(lambda p: Path(p).name).tolist() == ["001.wrl"]


def test_missing_texture_is_quarantined_unless_allowed(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    atlas = tree.root / "F0001" / "F0001_AN03WH_F3D.bmp"
    atlas.unlink()
    idx, quarantine = index("bu3dfe", tree.root)
    assert quarantine["stage"].tolist() == ["texture"]
    assert str(atlas.resolve()) in quarantine.loc[0, "reason"]
    assert len(idx) == len(tree.good) - 1

    idx, quarantine = index("bu3dfe", tree.root, {"allow_missing_texture": True})
    assert quarantine.empty and len(idx) == len(tree.good)
    keyword, _ = index("bu3dfe", tree.root, allow_missing_texture=True)  # same, as a keyword
    pd.testing.assert_frame_equal(keyword, idx)
    row = idx[idx["path"].str.endswith("F0001_AN03WH_F3D.wrl")].iloc[0]
    assert not row["has_texture"] and pd.isna(row["texture_path"])


def test_a_mesh_without_texture_coordinates_cannot_be_textured(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    scan = tree.root / "F0001" / "F0001_AN03WH_F3D.wrl"
    text = scan.read_text()
    scan.write_text(text[: text.index("texCoord ")])  # cut after coordIndex: no UVs left
    idx, quarantine = index("bu3dfe", tree.root)
    assert quarantine[["path", "stage"]].values.tolist() == [[str(scan.resolve()), "texture"]]
    assert "no texture coordinates" in quarantine.loc[0, "reason"]
    idx, _ = index("bu3dfe", tree.root, {"allow_missing_texture": True})
    assert not idx.loc[idx["path"] == str(scan.resolve()), "has_uv"].item()


def test_bad_landmarks_are_reported_but_the_scan_is_kept(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    bnd = write_bnd(tree.root / "M0002" / "M0002_HA04AE_F3D.bnd", bad_index=True)
    idx, quarantine = index("bu3dfe", tree.root)
    assert len(idx) == len(tree.good)
    assert quarantine[["path", "stage"]].values.tolist() == [[str(bnd.resolve()), "landmarks"]]
    row = idx[idx["path"].str.endswith("M0002_HA04AE_F3D.wrl")].iloc[0]
    assert pd.isna(row["landmarks_path"]) and pd.isna(row["n_landmarks"])


def test_fail_fast_stops_at_the_first_bad_file(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE", corrupt=True)
    with pytest.raises(ScanError) as caught:
        index("bu3dfe", tree.root, fail_fast=True)
    assert caught.value.path.resolve() in {p.resolve() for p in tree.bad}
    good, _ = index("bu3dfe", bu3dfe_tree(tmp_path / "clean").root, fail_fast=True)
    assert len(good) == 6


def test_a_reader_bug_is_quarantined_as_unexpected(tmp_path: Path, monkeypatch) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")

    def broken(path, **kw):
        raise IndexError("list index out of range")

    monkeypatch.setattr(formats, "read_mesh", broken)
    idx, quarantine = index("bu3dfe", tree.root)
    assert idx.empty and len(quarantine) == len(tree.good)
    assert quarantine["reason"].str.startswith("unexpected IndexError").all()


# ---------------------------------------------------------------------------------- cache
class CountingReader:
    def __init__(self, real):
        self.real, self.paths = real, []

    def __call__(self, path, **kw):
        self.paths.append(Path(path).name)
        return self.real(path, **kw)


def test_unchanged_files_are_reused_from_the_cache_without_reading(
    tmp_path: Path, monkeypatch
) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    first, _ = index("bu3dfe", tree.root)
    reader = CountingReader(formats.read_mesh)
    monkeypatch.setattr(formats, "read_mesh", reader)

    again, quarantine = index("bu3dfe", tree.root, cache=first)
    assert reader.paths == []
    assert quarantine.empty
    pd.testing.assert_frame_equal(again, first)

    changed = tree.root / "F0001" / "F0001_HA04WH_F3D.wrl"
    changed.write_text(changed.read_text() + "\n# edited\n")
    os.utime(changed, ns=(1, 1))
    third, _ = index("bu3dfe", tree.root, cache=first)
    assert reader.paths == [changed.name]
    assert len(third) == len(first)


def test_cache_survives_a_parquet_round_trip(tmp_path: Path, monkeypatch) -> None:
    tree = bu4dfe_tree(tmp_path / "BU-4DFE")
    first, _ = index("bu4dfe", tree.root, {"landmarks_root": "BU4DFE_BND_V1.1"})
    first.to_parquet(tmp_path / "index.parquet")
    cache = pd.read_parquet(tmp_path / "index.parquet")
    reader = CountingReader(formats.read_mesh)
    monkeypatch.setattr(formats, "read_mesh", reader)
    again, _ = index("bu4dfe", tree.root, {"landmarks_root": "BU4DFE_BND_V1.1"}, cache=cache)
    assert reader.paths == []
    pd.testing.assert_frame_equal(again, first, check_dtype=False)


def test_cache_is_not_trusted_when_what_it_depends_on_changed(tmp_path: Path, monkeypatch) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    first, _ = index("bu3dfe", tree.root)
    reader = CountingReader(formats.read_mesh)
    monkeypatch.setattr(formats, "read_mesh", reader)
    (tree.root / "M0002" / "M0002_NE00AE_F3D.bmp").unlink()  # texture gone
    write_bnd(tree.root / "F0001" / "F0001_NE00WH_F3D.bnd", bad_index=True)  # landmarks edited
    _, quarantine = index("bu3dfe", tree.root, cache=first)
    assert sorted(reader.paths) == ["F0001_NE00WH_F3D.wrl", "M0002_NE00AE_F3D.wrl"]
    assert sorted(quarantine["stage"]) == ["landmarks", "texture"]
    reader.paths.clear()
    index("bu3dfe", tree.root, cache=first.drop(columns=["fingerprint"]))  # foreign schema: ignored
    assert len(reader.paths) == len(tree.good)


# ---------------------------------------------------------------------------------- face pose
#: What the stand-in estimator below does: the version it stamps, the fewest vertices of a face.
STAND_IN = {"version": 1, "min_vertices": 1}


def vertex_count_pose(mesh) -> str:
    """A stand-in pose estimator (the index is handed its estimator): the mesh's vertex count as
    its "pose", and no face in a mesh of fewer than ``STAND_IN["min_vertices"]``."""
    if mesh.n_vertices < STAND_IN["min_vertices"]:
        raise ScanError(mesh.source, "no face: too few vertices")
    return json.dumps({"version": STAND_IN["version"], "n_vertices": mesh.n_vertices})


def test_the_face_pose_is_the_estimator_the_caller_hands_in(tmp_path: Path, monkeypatch) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    with pytest.raises(ValueError, match="pose_estimator"):
        index("bu3dfe", tree.root, {"estimate_pose": True})

    estimator = PoseEstimator(vertex_count_pose, version=1)
    posed, _ = index("bu3dfe", tree.root, {"estimate_pose": True}, pose_estimator=estimator)
    assert len(posed) == len(tree.good)
    assert [json.loads(p)["n_vertices"] for p in posed["face_pose"]] == list(posed["n_vertices"])

    reader = CountingReader(formats.read_mesh)
    monkeypatch.setattr(formats, "read_mesh", reader)
    index("bu3dfe", tree.root, {"estimate_pose": True}, pose_estimator=estimator, cache=posed)
    assert reader.paths == []  # poses of this version are taken from the cache
    monkeypatch.setitem(STAND_IN, "version", 2)
    newer = PoseEstimator(vertex_count_pose, version=2)
    again, _ = index(
        "bu3dfe", tree.root, {"estimate_pose": True}, pose_estimator=newer, cache=posed
    )
    assert len(reader.paths) == len(posed)  # another version of the fit: every pose again
    assert {json.loads(p)["version"] for p in again["face_pose"]} == {2}


def test_a_mesh_the_estimator_finds_no_face_on_is_quarantined_at_stage_pose(
    tmp_path: Path, monkeypatch
) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    monkeypatch.setitem(STAND_IN, "min_vertices", N_VERTICES + 1)  # no test mesh is a face
    estimator = PoseEstimator(vertex_count_pose, version=1)
    none, quarantine = index("bu3dfe", tree.root, {"estimate_pose": True}, pose_estimator=estimator)
    assert none.empty and len(quarantine) == len(tree.good)
    assert set(quarantine["stage"]) == {"pose"}
    assert quarantine["reason"].str.contains("too few vertices").all()


# ---------------------------------------------------------------------------------- parallel
def test_process_pool_gives_the_same_index(tmp_path: Path) -> None:
    if getattr(formats.read_mesh, "__module__", "").startswith("devshim"):
        pytest.skip("stand-in readers are not importable in worker processes")
    tree = bu3dfe_tree(tmp_path / "BU-3DFE", corrupt=True)
    serial = index("bu3dfe", tree.root)
    parallel = index("bu3dfe", tree.root, n_workers=2)
    pd.testing.assert_frame_equal(parallel[0], serial[0])
    pd.testing.assert_frame_equal(parallel[1], serial[1])


def test_progress_bar_is_optional_and_harmless(tmp_path: Path, capsys) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    with_bar, _ = build_scan_index("bu3dfe", tree.root, progress=True)
    assert "index bu3dfe" in capsys.readouterr().err
    pd.testing.assert_frame_equal(with_bar, index("bu3dfe", tree.root)[0])


def test_unknown_index_option_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown option"):
        index("bu3dfe", tmp_path, {"allow_missing_textures": True})


# ---------------------------------------------------------------------------------- accounting
def test_scan_like_entries_the_layout_does_not_index_are_listed_as_skipped(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE")
    idx, quarantine = index("bu3dfe", tree.root, skipped=True)
    skipped = quarantine[quarantine["stage"] == "skipped"].set_index("path")["reason"]
    raw = {str(p) for p in tree.root.glob("*/*_RAW.wrl")}
    viewer = str(tree.root / "BU_WrlViewer_V2" / "sample.wrl")
    assert set(skipped.index) == raw | {viewer}
    assert all("excluded by its options" in skipped[p] for p in raw)
    assert "in a folder it does not read" in skipped[viewer]
    assert not abs_paths(p for p in tree.strays if p.name.startswith(".")) & set(quarantine["path"])
    assert len(idx) == len(tree.good)


def test_a_landmark_release_beside_the_root_is_read(tmp_path: Path) -> None:
    """Files are read only inside the dataset root, except a landmark release the user names."""
    tree = bu4dfe_tree(tmp_path / "BU-4DFE")
    release = tmp_path / "BU4DFE_BND_V1.1"
    (tree.root / "BU4DFE_BND_V1.1").rename(release)
    idx, quarantine = index("bu4dfe", tree.root, {"landmarks_root": str(release)})
    assert quarantine.empty, quarantine.to_dict("records")
    assert idx["n_landmarks"].notna().any()

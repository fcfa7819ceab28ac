"""The synthetic set on disk: naming grammar, real formats read back, determinism and reuse."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from PIL import Image

from facevlm.scans.formats import read_bnd, read_bnt, read_lm3, read_obj, read_vrml
from facevlm.scans.labels import MICRO_EXPRESSION_CLASSES
from facevlm.synthetic import MANIFEST, SyntheticConfig, generate_synthetic_dataset
from facevlm.synthetic.procedural.landmarks import BOSPHORUS_LABELS

TINY = SyntheticConfig(
    seed=3,
    n_subjects=2,
    n_subjects_4d=1,
    n_frames=5,
    n_bosphorus=1,
    n_bp4d_subjects=2,
    n_micro_subjects=1,
    clips_per_subject=5,
    clip_frames=6,
    resolution=1000,
    resolution_4d=600,
    texture_size=64,
    texture_size_4d=64,
    workers=1,
)
RACE = "(WH|BL|AE|AM|IN|LA)"
BU3DFE_NAME = re.compile(
    rf"^(?P<subj>[FM]\d{{4}})_((AN|DI|FE|HA|SA|SU)0[1-4]|NE00){RACE}_F3D\.(wrl|bmp|bnd)$"
)
BU4DFE_EXPRESSIONS = {"Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise"}
BOSPHORUS_TOKENS = {
    "N_N_0",
    *(f"E_{e}_0" for e in ("ANGER", "DISGUST", "FEAR", "HAPPY", "SADNESS", "SURPRISE")),
    "LFAU_12_0",
    "UFAU_2_0",
}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _mtimes(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synthetic") / "set"
    return root, generate_synthetic_dataset(root, TINY)


# ---------------------------------------------------------------------------------- layouts
def test_bu3dfe_layout_follows_the_name_grammar(dataset):
    root, manifest = dataset
    base = root / "BU-3DFE"
    subjects = sorted(p.name for p in base.iterdir())
    assert subjects == ["F0001", "M0001"]
    for subject in subjects:
        files = sorted(p.name for p in (base / subject).iterdir())
        assert len(files) == 25 * 3
        matches = [BU3DFE_NAME.match(f) for f in files]
        assert all(matches), [f for f, m in zip(files, matches, strict=True) if not m]
        assert {m["subj"] for m in matches} == {subject}
        assert len({f.split("_")[1][-2:] for f in files}) == 1, "one race code per subject"
        assert sum(f.endswith("NE00" + f.split("_")[1][-2:] + "_F3D.wrl") for f in files) == 1
    record = manifest["layouts"]["bu3dfe"]["subjects"][0]
    assert record["subject"] == "F0001" and record["gender"] == "F"
    assert files[0].split("_")[1][-2:] == manifest["layouts"]["bu3dfe"]["subjects"][1]["ethnicity"]


def test_bu4dfe_layout(dataset):
    root, manifest = dataset
    base = root / "BU-4DFE"
    assert sorted(p.name for p in base.iterdir()) == ["BU4DFE_BND_V1.1", "BU_WrlViewer_V2", "F001"]
    assert any((base / "BU_WrlViewer_V2").iterdir())
    assert {p.name for p in (base / "F001").iterdir()} == BU4DFE_EXPRESSIONS
    for expression in BU4DFE_EXPRESSIONS:
        names = sorted(p.name for p in (base / "F001" / expression).iterdir())
        assert names == sorted(
            [f"{k:03d}.wrl" for k in range(5)] + [f"{k:03d}.jpg" for k in range(5)]
        )
        marks = sorted(p.name for p in (base / "BU4DFE_BND_V1.1" / "F001" / expression).iterdir())
        suffix = ".landmark" if expression == "Surprise" else ".bnd"  # the one odd sequence
        assert marks == [f"{k:03d}{suffix}" for k in range(5)]
    assert manifest["layouts"]["bu4dfe"]["landmarks_folder"] == "BU4DFE_BND_V1.1"


def test_bosphorus_layout(dataset):
    root, _ = dataset
    files = sorted(p.name for p in (root / "Bosphorus" / "bs000").iterdir())
    stems = {f.rsplit(".", 1)[0] for f in files}
    assert stems == {f"bs000_{t}" for t in BOSPHORUS_TOKENS}
    assert len(files) == 3 * len(stems) and {f.rsplit(".", 1)[1] for f in files} == {
        "bnt",
        "png",
        "lm3",
    }


def test_bp4d_layout_pads_frames_to_four_or_three_digits(dataset):
    root, manifest = dataset
    seqs = root / "BP4D" / "Sequences(2D+3D)"
    assert sorted(p.name for p in seqs.iterdir()) == ["F001", "M001"]
    for subject, digits in (("F001", 4), ("M001", 3)):
        assert sorted(p.name for p in (seqs / subject).iterdir()) == [
            "T1",
            "T2",
            "T3",
            "T5",
            "T7",
            "T8",
        ]
        objs = sorted((seqs / subject / "T1").glob("*.obj"))
        assert len(objs) == 5 and all(re.fullmatch(rf"\d{{{digits}}}", p.stem) for p in objs)
        numbers = [int(p.stem) for p in objs]
        assert numbers == list(range(numbers[0], numbers[0] + 5))
        for p in objs:
            assert p.with_suffix(".jpg").is_file()
        for task in ("T1", "T2", "T3", "T5", "T7", "T8"):
            assert (root / "BP4D" / "AUCoding" / "AU_OCC" / f"{subject}_{task}.csv").is_file()


def test_4dme_layout(dataset):
    root, _ = dataset
    base = root / "4DME"
    assert (base / "4DME_Labelling_Micro_release v1.xlsx").is_file()
    clips = sorted(p.name for p in (base / "S01").iterdir())
    assert clips == [f"S01_{k:02d}" for k in range(1, 6)]
    assert len(list((base / "S01" / "S01_01").glob("*.obj"))) == 6


# ---------------------------------------------------------------------------------- read back
def test_bu3dfe_files_read_back_with_face_varying_uvs(dataset):
    root, manifest = dataset
    folder = root / "BU-3DFE" / "F0001"
    wrl = next(folder.glob("F0001_HA04??_F3D.wrl"))
    mesh = read_vrml(wrl)
    assert mesh.n_vertices == manifest["layouts"]["bu3dfe"]["subjects"][0]["n_vertices"]
    assert mesh.uv_indices is not None and len(mesh.uv) > mesh.n_vertices
    pairs = np.unique(np.stack([mesh.polygon_indices, mesh.uv_indices], 1), axis=0)
    assert np.bincount(pairs[:, 0]).max() == 2, "midline vertices keep both of their UVs"
    assert mesh.texture_path == wrl.with_suffix(".bmp")
    assert set(np.unique(mesh.arities).tolist()) == {3, 4}
    with Image.open(wrl.with_suffix(".bmp")) as image:
        assert image.size == (64, 64) and image.format == "BMP"
    indices, points = read_bnd(wrl.with_suffix(".bnd"), n_vertices=mesh.n_vertices)
    assert len(indices) == 83
    assert np.allclose(points, mesh.vertices[indices], atol=1e-9)
    # landmarks on the right features in the file too: mouth below nose below eyes
    assert points[48:68, 1].max() < points[36:48, 1].min() < points[0:16, 1].min()


def test_expressions_differ_on_disk(dataset):
    root, _ = dataset
    folder = root / "BU-3DFE" / "M0001"
    meshes = {p.name.split("_")[1][:4]: read_vrml(p) for p in folder.glob("*.wrl")}
    neutral = meshes.pop(next(k for k in meshes if k.startswith("NE")))
    for code, mesh in meshes.items():
        assert mesh.n_vertices == neutral.n_vertices
        # pose differs slightly between scans, so compare after removing the mean
        a = mesh.vertices - mesh.vertices.mean(0)
        b = neutral.vertices - neutral.vertices.mean(0)
        assert np.abs(a - b).max() > (1.0 if code.endswith("01") else 3.0), code


def test_4d_frames_read_back(dataset):
    root, manifest = dataset

    def n_vertices(layout, subject):
        (record,) = [s for s in manifest["layouts"][layout]["subjects"] if s["subject"] == subject]
        return record["n_vertices"]

    frame = read_vrml(root / "BU-4DFE" / "F001" / "Happy" / "002.wrl")
    assert frame.texture_path == root / "BU-4DFE" / "F001" / "Happy" / "002.jpg"
    assert frame.uv_indices is not None
    assert frame.n_vertices == n_vertices("bu4dfe", "F001")
    indices, _ = read_bnd(root / "BU-4DFE" / "BU4DFE_BND_V1.1" / "F001" / "Happy" / "002.bnd")
    assert len(indices) == 83 and indices.max() < frame.n_vertices
    for obj, expected in (
        (
            next((root / "BP4D" / "Sequences(2D+3D)" / "M001" / "T3").glob("*.obj")),
            n_vertices("bp4d", "M001"),
        ),
        (root / "4DME" / "S01" / "S01_02" / "003.obj", n_vertices("4dme", "S01")),
    ):
        mesh = read_obj(obj)
        assert mesh.uv_indices is not None and len(mesh.uv) > mesh.n_vertices
        assert mesh.n_vertices == expected
        assert obj.with_suffix(".jpg").is_file() and obj.with_suffix(".mtl").is_file()
        assert f"map_Kd {obj.stem}.jpg" in obj.with_suffix(".mtl").read_text()


def test_bosphorus_files_read_back(dataset):
    root, _ = dataset
    bnt = root / "Bosphorus" / "bs000" / "bs000_E_HAPPY_0.bnt"
    scan = read_bnt(bnt)
    assert scan.image_name == "bs000_E_HAPPY_0.png"
    assert scan.zmin == -1e9
    z = np.asarray(scan.z)
    fg = z > scan.zmin
    assert 0.5 < fg.mean() < 0.95
    step = np.diff(np.unique(np.round(np.asarray(scan.x)[fg], 6)))
    assert np.allclose(step, 0.75)
    with Image.open(bnt.with_suffix(".png")) as image:
        assert image.size == (z.shape[1], z.shape[0])
    marks = read_lm3(bnt.with_suffix(".lm3"))
    assert list(marks) == list(BOSPHORUS_LABELS)
    tip = marks["Nose tip"]
    assert tip[2] == pytest.approx(z[fg].max(), abs=1.5), "the nose tip is the front of the grid"


def test_bp4d_au_codes_follow_the_sequence(dataset):
    root, manifest = dataset
    path = root / "BP4D" / "AUCoding" / "AU_OCC" / "F001_T1.csv"
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["0", "1", "2"] and header[12] == "12"
    frames = [int(r[0]) for r in body]
    task = manifest["layouts"]["bp4d"]["subjects"][0]["tasks"]["T1"]
    assert frames == list(range(task["coded_frames"][0], task["coded_frames"][1] + 1))
    on_disk = {
        int(p.stem) for p in (root / "BP4D" / "Sequences(2D+3D)" / "F001" / "T1").glob("*.obj")
    }
    assert set(frames) < on_disk, "a frame range is coded, not all frames"
    values = {int(v) for r in body for v in r[1:]}
    assert values <= {0, 1, 9}
    au12 = [int(r[12]) for r in body]
    assert 1 in au12, "happiness codes the lip corner puller at apex"
    apex_row = frames.index(task["apex_frame"])
    assert au12[apex_row] == 1
    assert all(int(r[3]) == 9 for r in body), "AU3 is not coded"


def test_4dme_spreadsheet_labels_every_clip(dataset):
    root, manifest = dataset
    book = load_workbook(root / "4DME" / "4DME_Labelling_Micro_release v1.xlsx", read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    header = list(rows[0])
    for column in (
        "sub_ID",
        "fold_name",
        "Onset",
        "Apex",
        "Offset",
        "AUs",
        "Positive",
        "Negative",
        "Surprise",
        "Repression",
        "Others",
    ):
        assert column in header
    records = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [r["fold_name"] for r in records] == [f"S01_{k:02d}" for k in range(1, 6)]
    classes = [
        c
        for r in records
        for c in ("Positive", "Negative", "Surprise", "Repression", "Others")
        if r[c] == 1
    ]
    assert sorted(c.lower() for c in classes) == sorted(MICRO_EXPRESSION_CLASSES)
    for r in records:
        n = len(list((root / "4DME" / r["sub_ID"] / r["fold_name"]).glob("*.obj")))
        assert 0 <= r["Onset"] < r["Apex"] < r["Offset"] < n
        assert re.fullmatch(r"AU\d+(\+AU\d+)*", r["AUs"])
        for au in r["AUs"].split("+"):
            assert r[au] == 1


# ---------------------------------------------------------------------------------- manifest
def test_manifest_describes_the_set(dataset):
    root, manifest = dataset
    assert (root / MANIFEST).is_file()
    assert manifest["complete"] is True
    assert manifest["config"] == TINY.to_dict()
    assert manifest["config_hash"] == TINY.content_hash()
    assert set(manifest["layouts"]) == {"bu3dfe", "bu4dfe", "bosphorus", "bp4d", "4dme"}
    n_files = sum(1 for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert manifest["n_files"] == n_files
    for info in manifest["layouts"].values():
        for subject in info["subjects"]:
            assert subject["gender"] in ("F", "M") and 18 <= subject["age"] <= 70


def test_same_config_reuses_the_set_without_touching_it(dataset):
    root, manifest = dataset
    before = _mtimes(root)
    again = generate_synthetic_dataset(root, replace(TINY, workers=2))  # workers do not matter
    assert again == manifest
    assert _mtimes(root) == before


def test_same_seed_gives_byte_identical_files(dataset, tmp_path):
    root, _ = dataset
    again = tmp_path / "again"
    generate_synthetic_dataset(again, TINY)
    assert _digest(again) == _digest(root)


@pytest.mark.slow
def test_parallel_workers_write_the_same_bytes(dataset, tmp_path):
    root, _ = dataset
    parallel = tmp_path / "parallel"
    config = replace(TINY, layouts=("bu3dfe", "bp4d"), workers=2)
    generate_synthetic_dataset(parallel, config)
    ours = _digest(parallel)
    reference = {k: v for k, v in _digest(root).items() if k.startswith(("BU-3DFE", "BP4D"))}
    assert {k: v for k, v in ours.items() if k != MANIFEST} == reference


def test_other_seed_gives_other_people(dataset, tmp_path):
    root, manifest = dataset
    other = generate_synthetic_dataset(
        tmp_path / "other", replace(TINY, seed=4, layouts=("bu3dfe",))
    )
    a = read_vrml(next((root / "BU-3DFE" / "F0001").glob("*NE00*.wrl")))
    b = read_vrml(next((tmp_path / "other" / "BU-3DFE" / "F0001").glob("*NE00*.wrl")))
    assert a.n_vertices != b.n_vertices or not np.allclose(a.vertices, b.vertices)

    def people(m):
        return [(s["age"], s["ethnicity"]) for s in m["layouts"]["bu3dfe"]["subjects"]]

    assert people(other) != people(manifest)


def test_changed_config_regenerates_and_drops_stale_files(tmp_path):
    root = tmp_path / "set"
    small = replace(TINY, layouts=("bu3dfe", "bosphorus"), n_bosphorus=1)
    first = generate_synthetic_dataset(root, small)
    assert (root / "Bosphorus").is_dir()
    second = generate_synthetic_dataset(root, replace(small, n_subjects=1, layouts=("bu3dfe",)))
    assert second["config_hash"] != first["config_hash"]
    assert sorted(p.name for p in (root / "BU-3DFE").iterdir()) == ["F0001"]
    assert not (root / "Bosphorus").exists()


def test_damaged_set_is_written_again(tmp_path):
    root = tmp_path / "set"
    config = replace(TINY, layouts=("bosphorus",))
    generate_synthetic_dataset(root, config)
    victim = root / "Bosphorus" / "bs000" / "bs000_N_N_0.bnt"
    original = victim.read_bytes()
    victim.write_bytes(original[:100])  # truncated
    generate_synthetic_dataset(root, config)
    assert victim.read_bytes() == original


# ----------------------------------------------------------------- layouts cached one by one
def test_asking_for_fewer_layouts_reuses_the_set_untouched(dataset):
    root, manifest = dataset
    before = _mtimes(root)
    again = generate_synthetic_dataset(root, replace(TINY, layouts=("bu3dfe",)))
    assert again == manifest  # still describes every layout on disk
    assert _mtimes(root) == before


def test_a_missing_layout_is_added_beside_the_ones_on_disk(dataset, tmp_path):
    reference_root, _ = dataset
    root = tmp_path / "set"
    generate_synthetic_dataset(root, replace(TINY, layouts=("bu3dfe",)))
    bu3dfe_before = _mtimes(root / "BU-3DFE")
    grown = generate_synthetic_dataset(root, replace(TINY, layouts=("bosphorus",)))
    assert _mtimes(root / "BU-3DFE") == bu3dfe_before  # kept, not written again
    assert set(grown["layouts"]) == {"bu3dfe", "bosphorus"}
    assert grown["config"]["layouts"] == ["bu3dfe", "bosphorus"]
    at_once = generate_synthetic_dataset(
        tmp_path / "at_once", replace(TINY, layouts=("bu3dfe", "bosphorus"))
    )
    assert grown == at_once
    reference = {k: v for k, v in _digest(reference_root).items() if k.startswith("Bosphorus")}
    assert {k: v for k, v in _digest(root).items() if k.startswith("Bosphorus")} == reference


def test_a_damaged_layout_is_written_again_and_the_intact_one_kept(tmp_path):
    root = tmp_path / "set"
    config = replace(TINY, layouts=("bu3dfe", "bosphorus"))
    generate_synthetic_dataset(root, config)
    victim = root / "Bosphorus" / "bs000" / "bs000_N_N_0.bnt"
    original = victim.read_bytes()
    victim.write_bytes(original[:100])
    bu3dfe_before = _mtimes(root / "BU-3DFE")
    generate_synthetic_dataset(root, config)
    assert victim.read_bytes() == original
    assert _mtimes(root / "BU-3DFE") == bu3dfe_before


def test_an_interrupted_layout_is_cleared_and_written_again(tmp_path, monkeypatch):
    import facevlm.synthetic.writer as writer

    root = tmp_path / "set"
    generate_synthetic_dataset(root, replace(TINY, layouts=("bu3dfe",)))

    def crash(root_dir, config, task):
        (Path(root_dir) / "Bosphorus" / "half-written.bnt").parent.mkdir(parents=True)
        (Path(root_dir) / "Bosphorus" / "half-written.bnt").write_bytes(b"\0")
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "run_task", crash)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic_dataset(root, replace(TINY, layouts=("bosphorus",)))
    monkeypatch.undo()
    manifest = generate_synthetic_dataset(root, replace(TINY, layouts=("bosphorus",)))
    assert not (root / "Bosphorus" / "half-written.bnt").exists()
    assert manifest["complete"] is True and set(manifest["layouts"]) == {"bu3dfe", "bosphorus"}
    assert (root / "Bosphorus" / "bs000" / "bs000_N_N_0.bnt").is_file()


def test_a_layout_folder_the_manifest_does_not_name_is_never_written_over(tmp_path):
    root = tmp_path / "set"
    generate_synthetic_dataset(root, replace(TINY, layouts=("bu3dfe",)))
    theirs = root / "Bosphorus" / "notes.txt"
    theirs.parent.mkdir()
    theirs.write_text("someone else's")
    with pytest.raises(FileExistsError, match="does not name it"):
        generate_synthetic_dataset(root, replace(TINY, layouts=("bosphorus",)))
    assert theirs.read_text() == "someone else's"


def test_refuses_to_write_over_other_data(tmp_path):
    root = tmp_path / "precious"
    root.mkdir()
    (root / "F0001").mkdir()
    with pytest.raises(FileExistsError, match="refusing"):
        generate_synthetic_dataset(root, TINY)
    assert (root / "F0001").is_dir()


# ---------------------------------------------------------------------------------- config
def test_config_validates_and_normalises():
    config = SyntheticConfig(layouts=["4DME", "BU-3DFE", "bu3dfe"])
    assert config.layouts == ("bu3dfe", "4dme")
    assert SyntheticConfig(**config.to_dict()) == config
    assert SyntheticConfig(workers=1).content_hash() == SyntheticConfig(workers=2).content_hash()
    assert SyntheticConfig(seed=1).content_hash() != SyntheticConfig(seed=2).content_hash()
    with pytest.raises(ValueError, match="unknown synthetic layouts"):
        SyntheticConfig(layouts=("casme",))
    with pytest.raises(ValueError, match="n_frames"):
        SyntheticConfig(n_frames=2)
    with pytest.raises(ValueError, match="n_subjects"):
        SyntheticConfig(n_subjects=-1)


def test_capture_conditions_are_validated():
    for bad in (
        {"style": "studio"},
        {"lighting": -1.0},
        {"pose_deg": -2.0},
        {"grayscale_share": 2},
        {"photo_shading": -0.5},
    ):
        with pytest.raises(ValueError):
            SyntheticConfig(**bad)
    with pytest.raises(ValueError, match="subject_offset"):
        SyntheticConfig(n_subjects=10, subject_offset=9995)


def test_each_scan_has_its_own_light_and_records_its_activation(dataset):
    root, manifest = dataset
    subject = manifest["layouts"]["bu3dfe"]["subjects"][0]
    folder = root / "BU-3DFE" / subject["subject"]
    textures = {p.read_bytes() for p in sorted(folder.glob("*.bmp"))[:6]}
    assert len(textures) == 6, "the light of the texture changes between scans"
    assert set(subject["activations"]) == set(subject["scans"])
    neutral = [s for s in subject["scans"] if "_NE00" in s]
    assert subject["activations"][neutral[0]] == {}


def test_relight_changes_exposure_but_keeps_the_picture():
    from facevlm.synthetic import sample_identity
    from facevlm.synthetic.procedural.texture import paint_texture, relight

    identity = sample_identity(np.random.default_rng(0), "F")
    atlas = paint_texture(identity, 64)
    assert relight(atlas, identity, np.random.default_rng(1), 0.0) is atlas
    a = relight(atlas, identity, np.random.default_rng(1), 1.0).astype(float)
    b = relight(atlas, identity, np.random.default_rng(2), 1.0).astype(float)
    assert not np.array_equal(a, b)
    assert np.corrcoef(a.ravel(), atlas.ravel().astype(float))[0, 1] > 0.95
    grey = relight(atlas, identity, np.random.default_rng(1), 1.0, grayscale=True)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_every_4d_frame_is_photographed_with_its_own_folds(dataset):
    """Real 4D scanners photograph every frame: the shading of the expression's folds changes
    from the neutral onset to the apex, while the painted skin stays the same."""
    root, manifest = dataset
    (subject,) = manifest["layouts"]["bu4dfe"]["subjects"]
    happy = subject["sequences"]["Happy"]
    folder = root / "BU-4DFE" / subject["subject"] / "Happy"
    onset = (folder / "000.jpg").read_bytes()
    apex = (folder / f"{happy['apex_frame']:03d}.jpg").read_bytes()
    assert onset != apex
    for clip in sorted((root / "4DME").glob("S01/S01_*"))[:1]:
        assert len({p.read_bytes() for p in clip.glob("*.jpg")}) > 1


def test_no_photo_shading_gives_every_frame_the_same_texture(tmp_path):
    config = SyntheticConfig(**{**TINY.to_dict(), "layouts": ("bu4dfe",), "photo_shading": 0.0})
    root = tmp_path / "set"
    generate_synthetic_dataset(root, config)
    folder = next((root / "BU-4DFE").glob("F001/Happy"))
    assert len({p.read_bytes() for p in folder.glob("*.jpg")}) == 1


def test_scanner_variety_makes_every_scan_a_different_scanners_mesh(tmp_path):
    """With the knobs on, each BU-3DFE scan is remeshed and written in its own unit, its
    landmarks still on its vertices, and the manifest says what was drawn; with them off
    (the default) nothing is recorded."""
    variety = {"density": [0.5, 1.5], "holes": 1.0, "units": ["mm", "cm", "m"]}
    config = replace(TINY, n_subjects=1, layouts=("bu3dfe",), scanner_variety=variety)
    manifest = generate_synthetic_dataset(tmp_path / "set", config)
    (subject,) = manifest["layouts"]["bu3dfe"]["subjects"]
    records = subject["scanner"]
    assert set(records) == set(subject["scans"])
    assert {r["unit"] for r in records.values()} == {"mm", "cm", "m"}
    scale = {"mm": 1.0, "cm": 0.1, "m": 0.001}
    counts = set()
    for stem, record in records.items():
        wrl = tmp_path / "set" / "BU-3DFE" / subject["subject"] / f"{stem}.wrl"
        mesh = read_vrml(wrl)
        assert mesh.n_vertices == record["vertices"][1]
        counts.add(mesh.n_vertices)
        height = np.ptp(mesh.vertices[:, 1]) / scale[record["unit"]]
        assert 100.0 < height < 300.0, (stem, record["unit"], height)  # a face, in any unit
        indices, points = read_bnd(wrl.with_suffix(".bnd"), n_vertices=mesh.n_vertices)
        assert len(indices) == 83 and np.array_equal(points, mesh.vertices[indices])
    assert len(counts) > 10, "densities are drawn per scan"
    assert "scanner" not in next(
        s
        for s in generate_synthetic_dataset(
            tmp_path / "plain", replace(config, scanner_variety={})
        )["layouts"]["bu3dfe"]["subjects"]
    )

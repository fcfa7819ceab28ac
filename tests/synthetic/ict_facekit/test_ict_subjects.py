"""ICT-FaceKit subjects in the built-in set: the same layouts, formats and expression grammar as
the procedural faces, with faces measured on real people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facevlm.scans.formats import read_bnd, read_bnt, read_obj, read_vrml
from facevlm.scans.layouts import build_scan_index
from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset
from facevlm.synthetic.expressions import ACTION_UNITS, EMOTION_RECIPES
from facevlm.synthetic.ict_facekit.head import AU_SHAPES, build_ict_head
from facevlm.synthetic.procedural.identity import sample_identity
from facevlm.synthetic.procedural.landmarks import LANDMARK_GROUPS

MIXED = SyntheticConfig(
    seed=5,
    n_subjects=2,
    n_subjects_4d=1,
    n_frames=5,
    n_bosphorus=1,
    n_bp4d_subjects=1,
    n_micro_subjects=1,
    clips_per_subject=1,
    clip_frames=6,
    resolution=1000,
    resolution_4d=600,
    texture_size=64,
    texture_size_4d=64,
    face_sources=("ict", "procedural"),  # one subject of a layout: an ICT one
    ict_regions=("narrow_face",),
    workers=1,
)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("mixed") / "set"
    return root, generate_synthetic_dataset(root, MIXED)


@pytest.fixture(scope="module")
def ict_head():
    rng = np.random.default_rng(11)
    return build_ict_head(sample_identity(rng, "F"), rng, "face")


def _group_centre(points: np.ndarray, group: str) -> np.ndarray:
    return points[list(LANDMARK_GROUPS[group])].mean(axis=0)


# ---------------------------------------------------------------------------------- the head
def test_every_action_unit_moves_an_ict_face(ict_head):
    assert set(AU_SHAPES) == set(ACTION_UNITS)
    for au in ACTION_UNITS:
        offsets = ict_head.displacement({au: (1.0, 1.0)})
        assert np.linalg.norm(offsets, axis=1).max() > 1.0, au  # mm


def test_one_sided_units_move_the_side_they_name(ict_head):
    """Image left (x < 0) is the first weight of an activation, as on procedural faces."""
    vertices = ict_head.mesh.vertices
    for au in (12, 4):
        left = np.linalg.norm(ict_head.displacement({au: (1.0, 0.0)}), axis=1)
        moved = left > 0.5 * left.max()
        assert vertices[moved, 0].mean() < -5.0, au


def test_bu3dfe_landmarks_sit_on_their_features(ict_head):
    marks = ict_head.mesh.landmarks
    assert marks.shape == (83, 3)
    eyes = (_group_centre(marks, "left_eye") + _group_centre(marks, "right_eye")) / 2
    brows = (_group_centre(marks, "left_brow") + _group_centre(marks, "right_brow")) / 2
    assert brows[1] > eyes[1] > _group_centre(marks, "nose")[1] > _group_centre(marks, "mouth")[1]
    assert _group_centre(marks, "left_eye")[0] < 0 < _group_centre(marks, "right_eye")[0]
    assert marks[list(LANDMARK_GROUPS["contour"]), 1].min() < marks[48:68, 1].min()


@pytest.mark.parametrize(
    ("emotion", "group", "direction"),
    [("happiness", "mouth", "corners up"), ("surprise", "left_brow", "up")],
)
def test_emotions_move_the_face_like_their_prototypes(ict_head, emotion, group, direction):
    recipe = {au: (w, w) for au, w in EMOTION_RECIPES[emotion].items()}
    moved = ict_head.with_vertices(ict_head.mesh.vertices + ict_head.displacement(recipe))
    before, after = ict_head.mesh.landmarks, moved.landmarks
    if direction == "up":
        assert _group_centre(after, group)[1] - _group_centre(before, group)[1] > 2.0
    else:  # the mouth corners (48, 54) rise against the mouth's centre
        rise = (after[[48, 54], 1] - before[[48, 54], 1]).mean()
        assert rise > 2.0


# ---------------------------------------------------------------------------------- on disk
def test_subjects_take_the_face_sources_in_turn(mixed):
    _, manifest = mixed
    for layout, info in manifest["layouts"].items():
        sources = [s["face_source"] for s in info["subjects"]]
        assert sources == ["ict", "procedural"][: len(sources)], layout
        ict = info["subjects"][0]
        assert ict["ict"]["region"] == "narrow_face" and len(ict["ict"]["identity_weights"]) > 0


def test_ict_scans_read_back_textured_with_landmarks(mixed):
    root, manifest = mixed
    (record,) = [s for s in manifest["layouts"]["bu3dfe"]["subjects"] if s["face_source"] == "ict"]
    folder = root / "BU-3DFE" / record["subject"]
    wrl = next(folder.glob("*_SU04??_F3D.wrl"))
    mesh = read_vrml(wrl)
    assert mesh.n_vertices == record["n_vertices"] > 5000
    assert mesh.uv_indices is not None and mesh.texture_path == wrl.with_suffix(".bmp")
    indices, points = read_bnd(wrl.with_suffix(".bnd"), n_vertices=mesh.n_vertices)
    assert len(indices) == 83 and np.allclose(points, mesh.vertices[indices], atol=1e-9)
    neutral = read_vrml(next(folder.glob("*_NE00??_F3D.wrl")))
    _, neutral_marks = read_bnd(next(folder.glob("*_NE00??_F3D.bnd")))

    # surprise raises the brows against the eyes
    def brow_height(marks):
        return _group_centre(marks, "left_brow")[1] - _group_centre(marks, "left_eye")[1]

    assert brow_height(points) - brow_height(neutral_marks) > 1.0
    assert neutral.n_vertices == mesh.n_vertices


def test_ict_sequences_clips_and_range_scans_read_back(mixed):
    root, manifest = mixed

    def ict_subject(layout):
        (record,) = [
            s for s in manifest["layouts"][layout]["subjects"] if s["face_source"] == "ict"
        ]
        return record

    frame = read_vrml(root / "BU-4DFE" / ict_subject("bu4dfe")["subject"] / "Happy" / "002.wrl")
    assert frame.n_vertices == ict_subject("bu4dfe")["n_vertices"]
    assert frame.texture_path.is_file()
    clip = root / "4DME" / ict_subject("4dme")["subject"]
    obj = read_obj(next(clip.glob("*/003.obj")))
    assert obj.n_vertices == ict_subject("4dme")["n_vertices"] and obj.uv_indices is not None
    bp4d = root / "BP4D" / "Sequences(2D+3D)" / ict_subject("bp4d")["subject"] / "T1"
    assert read_obj(next(bp4d.glob("*.obj"))).n_vertices == ict_subject("bp4d")["n_vertices"]
    bnt = next((root / "Bosphorus" / ict_subject("bosphorus")["subject"]).glob("*_E_HAPPY_0.bnt"))
    assert read_bnt(bnt).foreground.sum() > 1000


def test_a_mixed_set_ingests_like_a_real_one(mixed):
    """The layouts read, validate and index ICT subjects exactly like procedural ones."""
    root, manifest = mixed
    index, quarantine = build_scan_index("synthetic", root, fail_fast=True, progress=False)
    assert set(quarantine["stage"]) <= {"skipped"}  # Bosphorus' AU scans carry no emotion
    for layout, info in manifest["layouts"].items():
        expected = {s["subject"] for s in info["subjects"]}
        assert expected <= set(index["subject"]), layout

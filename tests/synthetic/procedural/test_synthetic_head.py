"""The neutral synthetic head: identity, mesh, face-varying UVs, landmarks and texture."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.synthetic.procedural import shapes
from facevlm.synthetic.procedural.head import build_head
from facevlm.synthetic.procedural.identity import RACE_CODES, sample_identity
from facevlm.synthetic.procedural.landmarks import (
    BOSPHORUS_LABELS,
    LANDMARK_GROUPS,
    bosphorus_vertices,
)
from facevlm.synthetic.procedural.texture import PATCH_RECTS, STRIP, paint_texture
from facevlm.synthetic.raster import sample_texture


def _lm(head, group: str) -> np.ndarray:
    return head.mesh.vertices[head.landmark_indices[list(LANDMARK_GROUPS[group])]]


# ---------------------------------------------------------------------------------- identity
def test_identity_is_deterministic_per_seed_and_differs_between_seeds():
    a = sample_identity(np.random.default_rng(7), "F")
    b = sample_identity(np.random.default_rng(7), "F")
    c = sample_identity(np.random.default_rng(8), "F")
    assert a == b
    assert a != c
    assert a.face_half_width != c.face_half_width or a.nose_length != c.nose_length


def test_identity_metadata_uses_bu3dfe_vocabulary():
    rng = np.random.default_rng(0)
    people = [sample_identity(rng) for _ in range(60)]
    assert {p.gender for p in people} == {"F", "M"}
    assert {p.race for p in people} <= set(RACE_CODES)
    assert len({p.race for p in people}) >= 3
    assert all(18 <= p.age <= 70 for p in people)
    assert people[0].metadata() == {
        "gender": people[0].gender,
        "age": people[0].age,
        "ethnicity": people[0].race,
    }


def test_identity_rejects_unknown_gender_and_race():
    with pytest.raises(ValueError, match="gender"):
        sample_identity(np.random.default_rng(0), "X")
    with pytest.raises(ValueError, match="race"):
        sample_identity(np.random.default_rng(0), "F", race="ZZ")


# ---------------------------------------------------------------------------------- mesh
def test_build_head_is_bit_for_bit_deterministic():
    identity = sample_identity(np.random.default_rng(3), "M")
    a, b = build_head(identity, 3000), build_head(identity, 3000)
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices)
    assert np.array_equal(a.mesh.polygon_indices, b.mesh.polygon_indices)
    assert np.array_equal(a.mesh.uv, b.mesh.uv)
    assert np.array_equal(a.mesh.uv_indices, b.mesh.uv_indices)


@pytest.mark.parametrize("resolution", [4000, 6000, 8000])
def test_vertex_count_follows_resolution(resolution):
    head = build_head(sample_identity(np.random.default_rng(resolution), "F"), resolution)
    assert abs(head.mesh.n_vertices - resolution) < 0.08 * resolution
    head.mesh.validate()


def test_face_is_a_bu3dfe_like_mask(head):
    skin = head.mesh.vertices[head.skin]
    height = np.ptp(skin[:, 1])
    width = np.ptp(skin[:, 0])
    assert 150 <= height <= 210
    assert 110 <= width <= 170
    # nose toward +z: the front-most skin point is the nose tip, near the midline
    tip = skin[np.argmax(skin[:, 2])]
    assert abs(tip[0]) < 3.0
    nose = _lm(head, "nose")
    assert nose[:, 1].min() - 15 < tip[1] < nose[:, 1].max()
    # mostly triangles, plus the quads of the patches behind the openings
    arities = set(np.unique(head.mesh.arities).tolist())
    assert arities == {3, 4}


def test_skin_triangles_are_not_folded_on_the_sheet(head):
    tris = head.mesh.triangles()[: int(np.sum(head.mesh.arities == 3))]
    p = head.sheet[tris]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    assert (area > 0).all()


def test_lips_are_cut_apart(head):
    """The slit row is duplicated: pairs of vertices at the same place, one on each lip."""
    idn = head.identity
    on_slit = head.skin & np.isclose(head.sheet[:, 1], idn.mouth_y)
    upper = np.flatnonzero(on_slit & ~head.lower)
    lower = np.flatnonzero(on_slit & head.lower)
    assert len(lower) >= 10
    twins = {tuple(head.sheet[i]) for i in upper}
    assert all(tuple(head.sheet[i]) in twins for i in lower)
    # the two copies never share a polygon: the lips are separate edges
    offsets, indices = head.mesh.polygon_offsets, head.mesh.polygon_indices
    lower_set, upper_set = set(lower.tolist()), set(upper.tolist())
    interior_upper = {i for i in upper_set if abs(head.sheet[i, 0]) < idn.mouth_half_width - 1}
    for p in range(head.mesh.n_polygons):
        corners = set(indices[offsets[p] : offsets[p + 1]].tolist())
        assert not (corners & lower_set and corners & interior_upper)


def test_eye_openings_show_an_eyeball_patch(head):
    idn = head.identity
    for k, side in ((2, -1), (3, 1)):
        cx, cy = shapes.eye_centre(idn, side)
        skin = head.sheet[head.skin]
        inside = (np.abs(skin[:, 0] - cx) < 0.5 * idn.eye_half_width) & (
            np.abs(skin[:, 1] - cy) < 0.5 * idn.eye_half_height
        )
        assert not inside.any(), "no skin inside the eye opening"
        ball = head.mesh.vertices[head.part == k]
        assert ball[:, 0].min() < side * idn.eye_x < ball[:, 0].max()


# ---------------------------------------------------------------------------------- UVs
def test_uvs_are_face_varying_on_the_midline_only(head):
    mesh = head.mesh
    assert mesh.uv_indices is not None and len(mesh.uv) > mesh.n_vertices
    pairs = np.unique(np.stack([mesh.polygon_indices, mesh.uv_indices], 1), axis=0)
    counts = np.bincount(pairs[:, 0], minlength=mesh.n_vertices)
    multi = np.flatnonzero(counts > 1)
    assert len(multi) > 20
    assert np.allclose(head.sheet[multi, 0], 0.0)
    assert counts.max() == 2


def test_face_uvs_stay_out_of_the_patch_strip(head):
    mesh = head.mesh
    assert (mesh.uv >= 0).all() and (mesh.uv <= 1).all()
    corner_part = head.part[mesh.polygon_indices]
    face_uv = mesh.uv[mesh.uv_indices[corner_part == 0]]
    assert face_uv[:, 1].min() >= STRIP
    for k, name in enumerate(shapes.INNER_PARTS, start=1):
        u0, v0, u1, v1 = PATCH_RECTS[name]
        uv = mesh.uv[mesh.uv_indices[corner_part == k]]
        assert (uv[:, 0] >= u0 - 1e-9).all() and (uv[:, 0] <= u1 + 1e-9).all()
        assert (uv[:, 1] >= v0 - 1e-9).all() and (uv[:, 1] <= v1 + 1e-9).all()


# ---------------------------------------------------------------------------------- landmarks
def test_83_landmarks_on_the_right_features(head):
    assert head.landmark_indices.shape == (83,)
    assert np.array_equal(head.mesh.landmarks, head.mesh.vertices[head.landmark_indices])
    assert head.skin[head.landmark_indices].all()
    eyes_l, eyes_r = _lm(head, "left_eye"), _lm(head, "right_eye")
    brow_l, brow_r = _lm(head, "left_brow"), _lm(head, "right_brow")
    nose, mouth, contour = _lm(head, "nose"), _lm(head, "mouth"), _lm(head, "contour")
    # left = image left (x < 0), as in menpo's BU-3DFE markup
    assert (eyes_l[:, 0] < 0).all() and (eyes_r[:, 0] > 0).all()
    assert (brow_l[:, 0] < 0).all() and (brow_r[:, 0] > 0).all()
    assert brow_l[:, 1].mean() > eyes_l[:, 1].max()
    assert eyes_l[:, 1].min() > nose[:, 1].mean()
    assert mouth[:, 1].max() < nose[:, 1].min()
    assert contour[:, 1].min() < mouth[:, 1].min() - 20
    assert abs(contour[7, 0]) < 3.0, "the middle contour point is the chin"
    # eye landmarks ring the opening: 8 distinct vertices around the eye centre
    for eye, side in ((eyes_l, -1), (eyes_r, 1)):
        assert len({tuple(p) for p in eye}) == 8
        assert np.allclose(eye.mean(0)[:2], shapes.eye_centre(head.identity, side), atol=3.0)


def test_inner_lip_landmarks_sit_on_either_lip(head):
    idx = head.landmark_indices
    lower_inner = idx[65:68]
    upper_inner = idx[61:64]
    assert head.lower[lower_inner].all()
    assert not head.lower[upper_inner].any()


def test_landmarks_are_stable_across_resolutions():
    identity = sample_identity(np.random.default_rng(11), "M")
    a, b = build_head(identity, 4000), build_head(identity, 8000)
    error = np.linalg.norm(a.mesh.landmarks - b.mesh.landmarks, axis=1)
    assert error[:68].max() < 3.0
    assert error[68:].max() < 10.0  # contour points sit on the steep rim of the mask


def test_bosphorus_landmarks_are_labelled_and_placed(head):
    marks = bosphorus_vertices(head.identity, head.sheet, head.lower, ~head.skin)
    assert tuple(marks) == BOSPHORUS_LABELS
    v = head.mesh.vertices
    assert v[marks["Nose tip"], 2] > v[marks["Inner left eye corner"], 2] + 10
    assert v[marks["Left mouth corner"], 0] < 0 < v[marks["Right mouth corner"], 0]
    assert (
        v[marks["Chin middle"], 1]
        < v[marks["Lower lip outer middle"], 1]
        < v[marks["Upper lip outer middle"], 1]
    )


# ---------------------------------------------------------------------------------- texture
def test_texture_is_deterministic_and_subject_specific(heads):
    a = paint_texture(heads[0].identity, 128)
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, paint_texture(heads[0].identity, 128))
    assert not np.array_equal(a, paint_texture(heads[1].identity, 128))


def test_texture_paints_lips_eyes_and_mouth_inside(head):
    texture = paint_texture(head.identity, 512)
    idn = head.identity
    layout = head.texture_layout
    from facevlm.synthetic.procedural.texture import _face_uv, _patch_uv

    def colour(px, py, view=1):
        return sample_texture(texture, _face_uv(layout, np.array([px]), np.array([py]), view))[0]

    skin = colour(idn.eye_x + 10, idn.mouth_y + 20)
    lip = colour(5.0, idn.mouth_y - 0.5 * idn.lower_lip)
    assert lip[0] / lip[1] > 1.1 * skin[0] / skin[1], "lips are redder than the cheek"
    cx, cy = shapes.eye_centre(idn, 1)
    pupil = sample_texture(texture, _patch_uv(layout, "eye_right", np.array([cx]), np.array([cy])))[
        0
    ]
    sclera = sample_texture(
        texture,
        _patch_uv(layout, "eye_right", np.array([cx + 0.8 * idn.eye_half_width]), np.array([cy])),
    )[0]
    assert pupil.mean() < 60 < 150 < sclera.mean()
    cavity = sample_texture(
        texture, _patch_uv(layout, "mouth", np.array([0.0]), np.array([idn.mouth_y - 12]))
    )[0]
    teeth = sample_texture(
        texture, _patch_uv(layout, "mouth", np.array([2.0]), np.array([idn.mouth_y + 3]))
    )[0]
    assert cavity.mean() < 80 < 170 < teeth.mean()


def test_skin_tone_follows_ethnicity():
    rng = np.random.default_rng(5)
    dark = np.mean([np.mean(sample_identity(rng, "F", race="BL").skin) for _ in range(5)])
    light = np.mean([np.mean(sample_identity(rng, "F", race="WH").skin) for _ in range(5)])
    assert dark < light - 50


@pytest.mark.parametrize("seed", range(12))
def test_any_identity_gives_a_clean_mesh(seed):
    """Extreme draws (narrow jaw, wide eyes, long nose ...) still give an unfolded mask with 83
    distinct landmarks in the right vertical order."""
    head = build_head(sample_identity(np.random.default_rng(100 + seed)), 2500)
    head.mesh.validate()
    tris = head.mesh.triangles()[: int(np.sum(head.mesh.arities == 3))]
    p = head.sheet[tris]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    assert (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0).all()
    assert len(np.unique(head.landmark_indices)) == 83
    lm = head.mesh.landmarks
    assert lm[48:68, 1].max() < lm[36:48, 1].min() < lm[0:16, 1].min() < lm[16:36, 1].max()

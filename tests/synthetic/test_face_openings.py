"""What a scan shows through the face's openings: the scanner variety's ``mouth_cavity_share``
and ``eye_surface_share``.

Both face sources must come with a hole and with a surface behind the lips, so that a model
cannot tell an open mouth by what lies inside it: the procedural faces have a cavity that can be
taken away, ICT-FaceKit's have none and get a plate behind the lips. Either source's eyeballs
can be taken away, leaving holes between the lids.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from facevlm.render.arrays import area_weighted_normals
from facevlm.synthetic.face_openings import (
    BACK_WALL_DEPTH_MM,
    BACK_WALL_GRID,
    EYE_SURFACE_KEY,
    EYES,
    INNER_MOUTH,
    MOUTH,
    MOUTH_INTERIOR_KEY,
    SURFACE_SEARCH_MM,
    mouth_frame,
)
from facevlm.synthetic.ict_facekit.head import build_ict_head
from facevlm.synthetic.procedural.identity import sample_identity
from facevlm.synthetic.scanner_variety import ScannerVariety, apply_scanner_variety

N_PLATE = BACK_WALL_GRID[0] * BACK_WALL_GRID[1]


def mouth_variety(mesh, share: float, seed: int = 0):
    return apply_scanner_variety(
        mesh, ScannerVariety(mouth_cavity_share=share), np.random.default_rng(seed)
    )


@pytest.fixture(scope="module")
def ict_open_mouth():
    """An ICT-FaceKit face with the jaw dropped: no mouth interior, a hole between the lips."""
    rng = np.random.default_rng(21)
    head = build_ict_head(sample_identity(rng, "M"), rng, "face")
    open_jaw = head.displacement({26: (1.0, 1.0), 27: (1.0, 1.0)})
    return head.with_vertices(head.mesh.vertices + open_jaw)


def test_a_procedural_face_lists_its_mouth_cavity(head):
    listed = head.mesh.metadata[MOUTH_INTERIOR_KEY]
    assert len(listed) > 50
    # the cavity sits behind the lips, never on the skin the landmarks mark
    assert not set(listed) & set(head.landmark_indices.tolist())
    lips = head.mesh.landmarks[MOUTH]
    assert head.mesh.vertices[listed, 2].max() < lips[:, 2].min()


def test_a_hole_takes_the_procedural_cavity_away_and_nothing_else(head):
    out, record = mouth_variety(head.mesh, share=0.0)
    listed = head.mesh.metadata[MOUTH_INTERIOR_KEY]
    assert record["mouth"] == "hole"
    assert out.n_vertices == head.mesh.n_vertices - len(listed)
    assert record["vertices_removed"] == len(listed)
    np.testing.assert_array_equal(out.landmarks, head.mesh.landmarks)
    # vertex numbers changed, so the list is not passed on
    assert MOUTH_INTERIOR_KEY not in out.metadata


def test_a_cavity_leaves_a_face_that_has_one_as_it_is(head):
    out, record = mouth_variety(head.mesh, share=1.0)
    assert record["mouth"] == "cavity"
    np.testing.assert_array_equal(out.vertices, head.mesh.vertices)
    np.testing.assert_array_equal(out.polygon_indices, head.mesh.polygon_indices)


def test_a_hole_leaves_a_face_without_interior_as_it_is(ict_open_mouth):
    out, record = mouth_variety(ict_open_mouth, share=0.0)
    assert record["mouth"] == "hole"
    np.testing.assert_array_equal(out.vertices, ict_open_mouth.vertices)


def test_a_cavity_puts_a_forward_facing_plate_behind_the_lips(ict_open_mouth):
    mesh = ict_open_mouth
    out, record = mouth_variety(mesh, share=1.0)
    assert record["mouth"] == "cavity"
    assert out.n_vertices == mesh.n_vertices + N_PLATE
    out.validate()
    centre, frame = mouth_frame(mesh.landmarks)
    plate = (out.vertices[mesh.n_vertices :] - centre) @ frame.T
    lips = (mesh.landmarks[MOUTH] - centre) @ frame.T
    # behind the face wherever the face covers it (its front-most surface there), by at least
    # the depth
    face = (mesh.vertices[np.unique(mesh.polygon_indices)] - centre) @ frame.T
    face = face[face[:, 2] > lips[:, 2].min() - 2 * BACK_WALL_DEPTH_MM]  # not the skull's back
    in_front = cKDTree(face[:, :2]).query_ball_point(plate[:, :2], SURFACE_SEARCH_MM)
    seen_through_the_opening = 0
    for point, near in zip(plate, in_front, strict=True):
        if near:
            assert face[near, 2].max() >= point[2] + BACK_WALL_DEPTH_MM - 1e-6
        else:  # in the opening: behind its whole rim
            seen_through_the_opening += 1
            inner_lips = (mesh.landmarks[INNER_MOUTH] - centre) @ frame.T
            assert point[2] <= inner_lips[:, 2].min() - BACK_WALL_DEPTH_MM + 1e-6
    assert seen_through_the_opening > 0
    # wider and taller than the opening
    assert plate[:, 0].min() < lips[:, 0].min() and plate[:, 0].max() > lips[:, 0].max()
    assert plate[:, 1].min() < lips[:, 1].min() and plate[:, 1].max() > lips[:, 1].max()
    # its polygons face the camera, as the face does
    new_polygons = out.polygon_indices[len(mesh.polygon_indices) :]
    triangles = np.concatenate(
        [new_polygons.reshape(-1, 4)[:, [0, 1, 2]], new_polygons.reshape(-1, 4)[:, [0, 2, 3]]]
    )
    normals = area_weighted_normals(out.vertices, triangles)[mesh.n_vertices :]
    assert (normals @ frame[2] > 0.5).all()


def test_the_plate_is_painted_like_the_inner_lips(ict_open_mouth):
    mesh = ict_open_mouth
    out, _ = mouth_variety(mesh, share=1.0)
    n_new_corners = len(out.polygon_indices) - len(mesh.polygon_indices)
    assert n_new_corners == 4 * (BACK_WALL_GRID[0] - 1) * (BACK_WALL_GRID[1] - 1)
    if mesh.uv_indices is not None:
        new = out.uv_indices[len(mesh.uv_indices) :]
        assert len(new) == n_new_corners and len(set(new.tolist())) == 1
        np.testing.assert_array_equal(out.uv, mesh.uv)
    elif mesh.uv is not None:
        assert len(out.uv) == out.n_vertices
    if mesh.vertex_colors is not None:
        plate = out.vertex_colors[mesh.n_vertices :].astype(int)
        assert plate.max() < mesh.vertex_colors.astype(int).max()


def test_the_share_of_cavities_follows_the_setting(head):
    records = [mouth_variety(head.mesh, share=0.3, seed=s)[1]["mouth"] for s in range(200)]
    assert 0.2 < records.count("cavity") / 200 < 0.4


def test_the_mouth_draws_change_no_other_knobs_draws(head):
    knobs = {"pose_deg": 3.0, "noise_mm": 0.2}
    _, without = apply_scanner_variety(head.mesh, ScannerVariety(**knobs), np.random.default_rng(4))
    _, with_mouth = apply_scanner_variety(
        head.mesh, ScannerVariety(**knobs, mouth_cavity_share=0.5), np.random.default_rng(4)
    )
    for key in ("pose_deg", "pose_axis", "noise_mm"):
        assert without[key] == with_mouth[key]


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="mouth_cavity_share"):
        ScannerVariety(mouth_cavity_share=share)


# ---------------------------------------------------------------------------------- the eyes
#: How far from the centre of an eye's landmarks an eyeball's surface may reach (mm): an
#: eyeball is about 24 mm across, and ICT-FaceKit's is a whole sphere
EYEBALL_REACH_MM = 30.0


def distance_to_the_nearer_eye(mesh, vertices) -> np.ndarray:
    eyes = mesh.landmarks[EYES]
    centres = np.stack([eyes[:8].mean(axis=0), eyes[8:].mean(axis=0)])
    return cKDTree(centres).query(mesh.vertices[vertices])[0]


def eye_variety(mesh, share: float, seed: int = 0):
    return apply_scanner_variety(
        mesh, ScannerVariety(eye_surface_share=share), np.random.default_rng(seed)
    )


@pytest.mark.parametrize("source", ["procedural", "ict"])
def test_eye_holes_take_the_eyeballs_away_and_keep_the_lids(source, head, ict_open_mouth):
    mesh = head.mesh if source == "procedural" else ict_open_mouth
    listed = mesh.metadata[EYE_SURFACE_KEY]
    assert len(listed) > 50
    # the listed vertices are the eyes (within an eyeball of an eye's centre), none a landmark
    assert distance_to_the_nearer_eye(mesh, listed).max() < EYEBALL_REACH_MM
    assert not set(listed) & set(mesh.metadata["landmark_indices"].tolist())

    out, record = eye_variety(mesh, share=0.0)
    assert record["eyes"] == "hole"
    used = np.unique(mesh.polygon_indices)
    assert out.n_vertices == len(used) - len(np.intersect1d(used, listed))
    np.testing.assert_array_equal(out.landmarks, mesh.landmarks)

    kept, record = eye_variety(mesh, share=1.0)
    assert record["eyes"] == "surface"
    np.testing.assert_array_equal(kept.vertices, mesh.vertices)


def test_the_ict_eye_list_follows_the_crop():
    """Each crop keeps a different share of the face before the eyeballs; the list must name
    the eyeballs in each."""
    rng = np.random.default_rng(5)
    identity = sample_identity(rng, "F")
    for region in ("narrow_face", "head"):
        head = build_ict_head(identity, np.random.default_rng(5), region)
        listed = head.mesh.metadata[EYE_SURFACE_KEY]
        assert distance_to_the_nearer_eye(head.mesh, listed).max() < EYEBALL_REACH_MM
        assert listed[-1] == head.mesh.n_vertices - 1

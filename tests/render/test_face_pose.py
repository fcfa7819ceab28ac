"""The face pose estimate: any rotation, units, crop and damage in, face-forward and framed out;
meshes that are no face refused."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from _posed_cases import (
    NON_FACES,
    _drop_vertices,
    ict_face,
    non_face,
    pose_case,
    repose_real,
    scene_case,
    synthetic_face,
)
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from facevlm.render import face_pose as fp
from facevlm.render.arrays import area_weighted_normals
from facevlm.render.face_pose import scan_shape
from facevlm.render.face_pose.choice import _polish, _refit_upper
from facevlm.render.face_pose.scan_shape import _nose_step, _relief, _symmetry
from facevlm.render.face_pose.scan_surface import (
    SCAN_POINTS,
    _near_border,
    _on_long_edges,
    _outward,
    _scan_surface,
)
from facevlm.render.face_pose.starts import scan_points
from facevlm.render.face_template import load_template
from facevlm.render.normalize import fit_normalization
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

#: Seeded cases of the accuracy test (the benchmark runs many more).
N_CASES = 40


def _errors(case) -> tuple[float, float, float]:
    """Rotation error (deg) and framing errors (centre / radius, radius ratio - 1) of the
    estimate against the same face's clean crop in its own frame."""
    return case.errors(fp.estimate_face_pose(case.mesh), fp.estimate_face_pose(case.canonical))


def test_pose_and_framing_under_any_rotation_units_crop_and_damage():
    """Generator faces and (where available) ICT-FaceKit identities with expressions, under
    rotations drawn uniformly over all orientations, mm/cm/m, offsets, face crops / full faces /
    heads with neck, cut foreheads, holes, noise and spikes."""
    failures = []
    for seed in range(N_CASES):
        case = pose_case(seed)
        try:
            angle, centre, radius = _errors(case)
        except fp.NotAFaceError as error:
            failures.append((seed, case.description, str(error)))
            continue
        if angle > 10.0 or centre > 0.1 or abs(radius) > 0.1:
            failures.append((seed, case.description, angle, centre, radius))
    # the goal is 99% within 10 degrees and 10%; what the estimate reaches is printed by
    # benchmarks/canonical_pose.py (docs/benchmarks.md): this guards against falling below it
    assert len(failures) <= 0.1 * N_CASES, failures


@pytest.mark.parametrize("kind", NON_FACES)
def test_non_faces_are_refused_with_the_scores(kind):
    # one of each kind: refusing one runs every search (about a second); the benchmark
    # (benchmarks/canonical_pose.py --non-faces) refuses 143 of each
    with pytest.raises(fp.NotAFaceError, match="no face found.*eyes, nose and mouth"):
        fp.estimate_face_pose(non_face(kind, 0))


def test_a_lumpy_blob_that_covers_the_template_is_refused_for_its_smooth_relief(monkeypatch):
    """A hand-sized lumpy ellipsoid whose end covers half the template's eyes, nose and mouth
    passes both coverage tests; a face's sharp relief (nose, eye sockets, mouth) is what it
    lacks."""
    blob = non_face("blob", 3)
    with pytest.raises(fp.NotAFaceError, match="relief"):
        fp.estimate_face_pose(blob)
    threshold = fp.MIN_RELIEF_MM
    monkeypatch.setattr(fp, "MIN_RELIEF_MM", 0.0)
    monkeypatch.setattr(fp, "MIN_NOSE_RIDGE", 0.0)
    monkeypatch.setattr(fp, "MIN_SYMMETRY", 0.0)
    pose = fp.estimate_face_pose(blob)  # the coverage tests alone take it for a face
    assert pose.central >= fp.MIN_CENTRAL and pose.precision >= fp.MIN_PRECISION
    assert pose.relief * pose.precision < 0.7 * threshold


def test_a_lumpy_blob_with_a_face_s_relief_is_refused_for_having_no_nose_ridge(monkeypatch):
    """Some lumpy ellipsoids pass every other test: half the template's eyes, nose and mouth
    covered, surface all around, lumps as deep as a face's relief. A lump under the fitted nose
    is no ridge with steep sides."""
    blob = non_face("blob", 35)
    with pytest.raises(fp.NotAFaceError, match="nose ridge"):
        fp.estimate_face_pose(blob)
    monkeypatch.setattr(fp, "MIN_NOSE_RIDGE", 0.0)
    monkeypatch.setattr(fp, "MIN_SYMMETRY", 0.0)  # the midline tests as they were
    pose = fp.estimate_face_pose(blob)  # every other test takes it for a face
    assert pose.nose_surface >= fp.NOSE_SURFACE_NEEDED
    assert pose.nose_ridge < 0.5 * 0.26  # faces' 1st percentile (docs/benchmarks.md)


def test_a_face_with_a_hole_over_its_nose_is_not_refused_for_the_ridge_it_lacks(monkeypatch):
    """Where a hole takes the nose, the ridge cannot tell a face from a lump: the other tests
    decide. With a ridge no face could match asked for, the face without its nose still
    passes and the whole face does not."""
    vertices, triangles, _ = synthetic_face(np.random.default_rng(8))
    tip = vertices[np.argmax(vertices[:, 2])]
    hole = np.linalg.norm(vertices - tip, axis=1) < 28.0
    holed, kept = _drop_vertices(vertices, triangles, hole)
    clean = fp.fit_face_pose(vertices, triangles)
    monkeypatch.setattr(fp, "MIN_NOSE_RIDGE", 1.01)
    pose = fp.fit_face_pose(holed, kept)
    assert pose.nose_surface < fp.NOSE_SURFACE_NEEDED <= clean.nose_surface
    assert fp.rotation_angle_deg(pose.rotation, clean.rotation) < 10.0
    with pytest.raises(fp.NotAFaceError, match="nose ridge"):
        fp.fit_face_pose(vertices, triangles)


def test_a_lumpy_blob_whose_surface_lies_under_the_fitted_nose_has_no_hole_there():
    """A symmetric lump can hold a fit whose nose floats above its surface: no scan under the
    ridge, as over a hole. But the lump goes on under it, with no hole's rim near: a nose that
    is not there, refused for the ridge it lacks (it passed every test when any missing
    surface under the nose counted as a hole)."""
    blob = non_face("blob", 111)
    with pytest.raises(fp.NotAFaceError, match="nose ridge") as refused:
        fp.estimate_face_pose(blob)
    ridge = float(re.search(r"([0-9.]+) of its nose ridge", str(refused.value)).group(1))
    assert ridge < fp.MIN_NOSE_RIDGE


def test_faces_have_relief_and_smooth_shapes_none():
    vertices, triangles, _ = synthetic_face(np.random.default_rng(8))
    pose = fp.fit_face_pose(vertices, triangles)
    assert pose.relief * pose.precision > 1.5 * fp.MIN_RELIEF_MM
    template = fp.load_template()
    ball = non_face("sphere")
    scan = _scan_surface(ball.vertices, ball.triangles())
    centre = ball.vertices.mean(axis=0)
    radius = np.linalg.norm(ball.vertices - centre, axis=1).mean()
    # the template's face laid on the ball's surface, looking outwards along +z
    shift = centre + np.array([0.0, 0.0, radius - template.nose_tip[2]])
    assert _relief(scan, template, 1.0, np.eye(3), shift) < 0.5 * fp.MIN_RELIEF_MM


def test_an_oval_crop_that_covers_the_template_upside_down_is_turned_upright():
    """This procedural face crop covers the template slightly better upside down (score 1.05
    against 1.02): its nose profile, sloping gently above the tip and stepping back sharply
    below it, says which way up it is."""
    case = pose_case(10148)
    pose = fp.estimate_face_pose(case.mesh)
    assert fp.rotation_angle_deg(pose.rotation, case.upright) < 10.0


def test_the_nose_profile_changes_sign_when_the_face_is_turned_upside_down():
    vertices, triangles, _ = synthetic_face(np.random.default_rng(4))
    scan = _scan_surface(vertices, triangles)
    upright, tip = _nose_step(scan, 1.0, np.eye(3), np.zeros(3))
    upside_down, _ = _nose_step(scan, 1.0, np.diag([-1.0, -1.0, 1.0]), np.zeros(3))
    assert upright > 5.0 and upside_down == pytest.approx(-upright)
    assert tip[2] == pytest.approx(vertices[:, 2].max(), abs=1.0)  # the nose tip


def test_spikes_are_marked_by_their_long_edges():
    vertices, triangles, _ = synthetic_face(np.random.default_rng(6))
    assert not _on_long_edges(vertices, triangles).any()
    spiked = vertices.copy()
    spiked[100] += np.array([0.0, 0.0, 80.0])
    marked = _on_long_edges(spiked, triangles)
    assert marked[100] and marked.sum() < 12  # the spike and its neighbours only


def test_not_a_face_is_a_scan_error_naming_the_file(tmp_path):
    mesh = non_face("sphere")
    mesh = FaceMesh.from_triangles(mesh.vertices, mesh.triangles(), source=tmp_path / "ball.ply")
    with pytest.raises(ScanError, match="ball.ply: no face found"):
        fp.estimate_face_pose(mesh)


def test_a_built_in_face_as_stored_is_already_canonical():
    """Built-in faces are stored face-forward: the estimate is (nearly) the identity and frames
    them as the robust sphere did before the estimate existed."""
    rng = np.random.default_rng(2024)
    for _ in range(3):
        vertices, triangles, _ = synthetic_face(rng)
        pose = fp.fit_face_pose(vertices, triangles)
        today = fit_normalization(vertices)
        assert fp.rotation_angle_deg(pose.rotation, np.eye(3)) < 4.0
        assert np.linalg.norm(pose.centre - today.centre) / today.radius < 0.15
        assert abs(pose.radius / today.radius - 1.0) < 0.1
        assert pose.mm_per_unit == pytest.approx(1.0, rel=0.3)


@pytest.mark.parametrize("unit, mm", [("m", 1000.0), ("cm", 10.0), ("mm", 1.0)])
def test_units_are_found(unit, mm):
    vertices, triangles, _ = synthetic_face(np.random.default_rng(5))
    pose = fp.fit_face_pose(vertices / mm, triangles)
    assert pose.mm_per_unit == pytest.approx(mm, rel=0.3)


def test_a_head_with_neck_is_framed_by_its_face():
    """A whole head with neck is framed like the face crop of the same person, not by the
    sphere of the whole head (which would draw the face at half the size)."""
    rng = np.random.default_rng(11)
    vertices, triangles, crop = ict_face(rng, "head")
    head = fp.fit_face_pose(vertices, triangles)
    face = fp.estimate_face_pose(crop)
    assert np.linalg.norm(head.centre - face.centre) < 0.05 * face.radius
    assert head.radius == pytest.approx(face.radius, rel=0.05)
    assert fit_normalization(vertices).radius > 1.3 * head.radius  # what framing used to see


def test_a_face_missing_its_forehead_is_framed_like_the_whole_face():
    """The template reaches forehead to chin; where a scan stops short (its top fifth cut off)
    the template's forehead has nothing to match and must not pull the face box down to the
    cut: the box stays where the whole face puts it (faces of real people's shape: the
    procedural faces differ from the template enough for the box to slide further, which
    ``benchmarks/canonical_pose.py`` measures)."""
    for seed in range(30, 42):
        _, _, crop = ict_face(np.random.default_rng(seed), "narrow")
        vertices, triangles = crop.vertices, crop.triangles()
        whole = fp.fit_face_pose(vertices, triangles)
        keep = vertices[:, 1] < np.percentile(vertices[:, 1], 80.0)
        short = fp.fit_face_pose(vertices, triangles[keep[triangles].all(axis=1)])
        assert np.linalg.norm(short.centre - whole.centre) < 0.05 * whole.radius, seed
        assert short.radius == pytest.approx(whole.radius, rel=0.05), seed


def test_a_face_refused_at_its_first_fit_is_searched_for_with_more_fits_kept(monkeypatch):
    """Seeded faces whose first search keeps no fit that passes the face test: with twice as
    many fits kept at each stage the true fit is among them, and each is found and framed
    like its clean crop; without that search each is refused as no face (the face test
    reading the mean face alone, as the template bent to the scan would accept the first
    search's fit of one of them)."""
    cases = [pose_case(seed) for seed in (30028, 40002)]
    for case in cases:
        angle, centre, radius = _errors(case)
        assert angle <= 10.0 and centre <= 0.1 and abs(radius) <= 0.1, case.description
    mean_face = replace(load_template(), identity_modes=None, expression_shapes=None)
    monkeypatch.setattr(fp, "load_template", lambda: mean_face)
    monkeypatch.setattr(fp, "_search_further", lambda *args: None)
    for case in cases:
        with pytest.raises(fp.NotAFaceError):
            fp.estimate_face_pose(case.mesh)


def test_a_face_whose_mouth_and_chin_stand_far_off_is_held_by_its_upper_face():
    """A laughing face moves its mouth, cheeks and chin far from the template's; fitted over
    the whole face from where the face truly is, the fit tilts towards them, while refitted
    on the template's upper face alone (what the search for a refused face also tries) it
    stays where the face is. Here the lower face of six ICT-FaceKit faces is pushed 14 mm
    forward and 12 mm down, from 20 mm below the nose tip."""
    template = load_template()
    polished, upper = [], []
    for seed in range(6):
        vertices, triangles, _ = ict_face(np.random.default_rng(seed), "full")
        truth = fp.fit_face_pose(vertices, triangles)
        tip_height = vertices[np.argmax(vertices[:, 2]), 1]
        lower = np.clip((tip_height - 20.0 - vertices[:, 1]) / 30.0, 0.0, 1.0)
        laughing = vertices + lower[:, None] * np.array([0.0, -12.0, 14.0])
        scan = _scan_surface(laughing, triangles, scan_points(laughing))
        scale, rotation, shift = fp._template_fit(truth)
        bounds = (0.6 * scale, 1.35 * scale)
        for refit, angles in ((_polish, polished), (_refit_upper, upper)):
            found = refit(scan, template, (scale, rotation, shift), bounds)
            angles.append(fp.rotation_angle_deg(found[1][0] @ rotation.T, np.eye(3)))
    assert max(upper) < 5.0
    assert np.mean(polished) > np.mean(upper) + 2.0


def test_a_head_in_a_wider_scene_is_found_and_framed_like_the_head_alone():
    """A depth camera's capture: the head before a wall a metre or two across (and a torso or
    not), in millimetres or metres, so that no unit makes the whole scan the size of a face."""
    for seed in range(6):
        case = scene_case(seed)
        angle, centre, radius = _errors(case)
        assert angle <= 10.0 and centre <= 0.1 and abs(radius) <= 0.1, (seed, case.description)


def test_a_scene_is_sampled_more_densely_than_a_face_scan():
    """The fit samples a few thousand of a scan's points; in a scene whose wall holds most of
    them, that would leave the face a few hundred."""
    crop = pose_case(0).mesh
    scene = scene_case(0, wall_grid=400)
    assert scan_points(crop.vertices) == SCAN_POINTS
    assert scan_points(scene.mesh.vertices) > 2 * SCAN_POINTS
    angle, centre, radius = _errors(scene)
    assert angle <= 10.0 and centre <= 0.1 and abs(radius) <= 0.1


def test_a_face_crop_in_normalised_units_is_still_found():
    """Scaled to a unit sphere, a face crop could as well be a scene two metres across: the
    face's own size is tried too."""
    vertices, triangles, _ = synthetic_face(np.random.default_rng(5))
    box = fit_normalization(vertices)
    clean = fp.fit_face_pose(vertices, triangles)
    pose = fp.fit_face_pose((vertices - box.centre) / box.radius, triangles)
    assert pose.mm_per_unit == 0.0  # no unit known
    assert fp.rotation_angle_deg(pose.rotation, clean.rotation) < 5.0
    assert pose.radius * box.radius == pytest.approx(clean.radius, rel=0.05)


def test_each_piece_of_a_scan_faces_away_from_its_own_centre():
    """A dome before a wall, both wound towards the camera (+z): one vote over the whole scan
    would let the wall turn the dome's normals into it."""
    u, v = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21), indexing="ij")
    index = np.arange(21 * 21).reshape(21, 21)
    a, b, c, d = (
        index[:-1, :-1].ravel(),
        index[1:, :-1].ravel(),
        index[1:, 1:].ravel(),
        index[:-1, 1:].ravel(),
    )
    grid = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    dome = np.stack(
        [60 * u.ravel(), 60 * v.ravel(), 40 * (1 - u.ravel() ** 2 - v.ravel() ** 2 / 2)], 1
    )
    wall = np.stack([1000 * u.ravel(), 1000 * v.ravel(), np.full(u.size, -500.0)], 1)
    vertices = np.concatenate([dome, wall])
    triangles = np.concatenate([grid, grid + len(dome)])
    normals = area_weighted_normals(vertices, triangles)
    normals *= np.sign(normals[:, 2:].sum())  # wound towards +z, as a camera sees them
    one_vote = np.einsum("ij,ij->", normals, vertices - vertices.mean(axis=0)) < 0
    assert one_vote  # what a single vote would do: turn everything round
    turned = _outward(vertices, triangles, normals)
    inner = np.abs(dome[:, :2]).max(axis=1) < 40  # away from the dome's rim
    assert (turned[: len(dome)][inner, 2] > 0).all()


def test_the_open_border_of_a_scan_is_found_and_a_triangle_soup_has_none():
    grid = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0), indexing="ij"), -1)
    vertices = np.c_[grid.reshape(-1, 2), np.zeros(100)]
    index = np.arange(100).reshape(10, 10)
    a, b, c, d = index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]
    triangles = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    border = _near_border(vertices, triangles, vertices, spacing=0.5)
    edge = (grid[..., 0] % 9 == 0) | (grid[..., 1] % 9 == 0)
    assert np.array_equal(border, edge.ravel())
    soup = np.arange(len(triangles) * 3).reshape(-1, 3)
    loose = vertices[triangles.ravel()]
    assert not _near_border(loose, soup, loose, spacing=0.5).any()


def test_pose_records_round_trip():
    vertices, triangles, _ = synthetic_face(np.random.default_rng(3))
    turn = Rotation.from_euler("xyz", [80, -30, 10], degrees=True).as_matrix()
    pose = fp.fit_face_pose(vertices @ turn.T, triangles)
    again = fp.FacePose.from_json(pose.to_json())
    assert np.allclose(again.rotation, pose.rotation, atol=1e-5)
    assert np.allclose(again.centre, pose.centre, atol=1e-5)
    assert again.radius == pytest.approx(pose.radius, rel=1e-5)
    assert again.central == pytest.approx(pose.central, abs=1e-4)
    assert again.relief == pytest.approx(pose.relief, abs=1e-3)
    assert again.nose_ridge == pytest.approx(pose.nose_ridge, abs=1e-4) and pose.nose_ridge > 0
    assert again.nose_surface == pytest.approx(pose.nose_surface, abs=1e-4)
    assert 0.0 < pose.confidence <= 1.0
    # the mean face found this face: no bent template needed
    assert not pose.shape_fitted and not again.shape_fitted


def test_an_ict_face_in_its_own_frame_is_turned_to_the_built_in_faces_pitch():
    """ "Face-forward" is the built-in faces' convention: an ICT-FaceKit face, which looks a few
    degrees further down in its own frame, is estimated turned by the canonical pitch, so the
    benchmark's truth for it (``PoseCase.upright``) is its frame turned so."""
    turned = fp.x_rotation(fp.FRAME_PITCH_DEG)
    for seed in range(3):
        vertices, triangles, _ = ict_face(np.random.default_rng(seed), "narrow")
        pose = fp.fit_face_pose(vertices, triangles)
        own_frame = fp.rotation_angle_deg(pose.rotation, np.eye(3))
        assert fp.rotation_angle_deg(pose.rotation, turned) < own_frame


def test_stored_pose_keeps_the_scans_axes():
    vertices, triangles, _ = synthetic_face(np.random.default_rng(3))
    pose = fp.face_pose_of(FaceMesh.from_triangles(vertices, triangles), "as_stored")
    assert not pose.estimated and np.array_equal(pose.rotation, np.eye(3))
    with pytest.raises(ValueError, match="pose must be one of"):
        fp.face_pose_of(FaceMesh.from_triangles(vertices, triangles), "guess")


def test_starting_rotations_cover_all_orientations():
    """No orientation is far from a start: the largest angle from 2,000 random rotations to
    their nearest start stays below the fit's reach (~45 degrees measured)."""
    starts = fp.rotation_starts()
    probes = Rotation.random(2000, random_state=0).as_matrix()
    traces = np.einsum("pij,sij->ps", probes, starts)
    nearest = np.degrees(np.arccos(np.clip((traces.max(axis=1) - 1) / 2, -1, 1)))
    assert nearest.max() < 50.0


def test_a_crop_unlike_the_template_is_framed_like_its_clean_crop_whichever_fit_it_lands_in():
    """This procedural crop (holes over the nose and a cheek, noise) has more than one stable
    fit along its height, scoring within a few hundredths of each other; ending the steps in
    whichever one the stages reach framed it 16% of its face box higher than its clean crop.
    The last steps start from either side of the fit too and blend the fits that score about
    as well."""
    case = pose_case(10284)
    angle, centre, radius = _errors(case)
    assert angle < 10.0 and centre < 0.1 and abs(radius) < 0.1, (angle, centre, radius)


def test_a_face_whose_mouth_is_lost_is_a_face_by_its_eyes_and_nose(monkeypatch):
    """A procedural crop that lost everything below 15 mm under its nose tip (the mouth and
    chin: a cut or a hole): less than ``MIN_CENTRAL`` of the template's eyes, nose and mouth
    lie on it, but its eyes and nose alone match as a face's do (no smooth shape matches more
    than a third of them). Without that second way in it would be refused."""
    vertices, triangles, _ = synthetic_face(np.random.default_rng(8))
    whole = fp.fit_face_pose(vertices, triangles)
    tip = vertices[np.argmax(vertices[:, 2])]
    upper, kept = _drop_vertices(vertices, triangles, vertices[:, 1] < tip[1] - 15.0)
    pose = fp.fit_face_pose(upper, kept)
    assert pose.central < fp.MIN_CENTRAL and pose.eyes_nose >= fp.MIN_EYES_NOSE
    assert fp.rotation_angle_deg(pose.rotation, whole.rotation) < 5.0
    monkeypatch.setattr(fp, "MIN_EYES_NOSE", 1.01)
    with pytest.raises(fp.NotAFaceError, match="eyes, nose and mouth"):
        fp.fit_face_pose(upper, kept)


def test_the_scan_is_mirror_symmetric_about_the_true_midline_only():
    """About the fitted midline a face is its own mirror image; about a plane beside it or
    turned from it (the midline of a fit on the side of a head, an ear for a nose) it is
    lopsided, and the symmetry test refuses such a fit."""
    template = load_template()
    vertices, triangles, _ = synthetic_face(np.random.default_rng(3))
    scan = _scan_surface(vertices, triangles)
    face = fp.fit_face_pose(vertices, triangles)
    scale, rotation, shift = fp._template_fit(face)
    assert _symmetry(scan, template, scale, rotation, shift) >= 0.9
    beside = shift + 25.0 * scale * rotation[:, 0]
    assert _symmetry(scan, template, scale, rotation, beside) < fp.MIN_SYMMETRY
    turned = Rotation.from_rotvec(np.radians(40.0) * rotation[:, 1]).as_matrix() @ rotation
    assert _symmetry(scan, template, scale, turned, shift) < fp.MIN_SYMMETRY


@pytest.mark.parametrize("seed", range(3))
def test_a_face_fitted_off_its_midline_is_symmetric_about_its_own(seed):
    """A fit 8 degrees and 3 mm off a face's midline scores as a refused real smile did (a
    FaceWarehouse face the template does not resemble: every such pose is fitted 3-4 degrees
    off): about the fitted midline its eyes and nose are lopsided and it shows little nose,
    and the face test refuses it as not facing the camera. About the scan's own midline near
    the fit the face is symmetric, and the last look takes it."""
    template = load_template()
    vertices, triangles, _ = synthetic_face(np.random.default_rng(seed))
    scan = _scan_surface(vertices, triangles)
    scale, rotation, shift = fp._template_fit(fp.fit_face_pose(vertices, triangles))
    turned = rotation @ Rotation.from_rotvec([0.0, np.radians(8.0), 0.0]).as_matrix()
    one = (np.array([scale]), turned[None], (shift + 3.0 * scale * rotation[:, 0])[None])
    scores = fp._scores(scan, template, np.arange(len(template.points)), *one)

    pose = fp._pose_of(scan, template, (*one, *scores), True)

    assert pose.symmetry < fp.MIN_SYMMETRY and pose.nose_ridge < fp.CLEAR_NOSE_RIDGE
    assert "facing the camera" in fp._no_face_reason(pose)
    assert pose.own_symmetry >= fp.MIN_OWN_SYMMETRY
    assert fp._own_midline_look([pose]) is pose


def test_a_face_no_search_fits_on_its_midline_is_read_in_its_first_fit(monkeypatch):
    """Every fit of a face refused for its midline (as a real face unlike the template may be,
    however far the searches look): the estimate takes the first fit, whose scan is
    symmetric about its own midline, rather than refusing a face. Not symmetric there either,
    it is refused, with both figures in the reason."""
    vertices, triangles, _ = synthetic_face(np.random.default_rng(3))
    first = fp.fit_face_pose(vertices, triangles)
    monkeypatch.setattr(fp, "MIN_SYMMETRY", 1.01)
    monkeypatch.setattr(fp, "CLEAR_NOSE_RIDGE", 1.01)

    pose = fp.fit_face_pose(vertices, triangles)

    assert fp.rotation_angle_deg(pose.rotation, first.rotation) < 1.0
    assert pose.own_symmetry >= fp.MIN_OWN_SYMMETRY
    monkeypatch.setattr(fp, "MIN_OWN_SYMMETRY", 1.01)
    with pytest.raises(fp.NotAFaceError, match=r"facing the camera.*about any midline near it"):
        fp.fit_face_pose(vertices, triangles)


def _symmetric_relief(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of a surface mirror-symmetric about ``x = 0`` and about no other plane near it: a
    ridge down its middle, two bumps either side of it, a slope up."""
    ridge = 20.0 * np.exp(-(x**2 + y**2 / 4.0) / 200.0)
    bumps = sum(5.0 * np.exp(-((x - side) ** 2 + (y - 15.0) ** 2) / 60.0) for side in (-20, 20))
    return ridge + bumps + 0.004 * x**2 + 0.1 * y


def test_the_scan_s_own_mirror_plane_is_found_near_the_fitted_midline():
    """A surface mirror-symmetric about a plane turned 12 degrees and moved 5 mm from the
    fitted midline: its plane is found. Turned 35 degrees, further than a fit of a face leaves
    its midline, its plane is not looked for."""
    x, y = (
        grid.ravel() for grid in np.meshgrid(np.linspace(-40, 40, 41), np.linspace(-40, 40, 41))
    )
    points = np.stack([x, y, _symmetric_relief(x, y)], axis=1)
    step = 1e-4
    slope_x = (_symmetric_relief(x + step, y) - _symmetric_relief(x - step, y)) / (2 * step)
    slope_y = (_symmetric_relief(x, y + step) - _symmetric_relief(x, y - step)) / (2 * step)
    normals = np.stack([-slope_x, -slope_y, np.ones_like(x)], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)

    def plane_found(degrees: float, shift_mm: float) -> tuple[np.ndarray, float]:
        turn = Rotation.from_rotvec([0.0, np.radians(degrees), 0.0]).as_matrix()
        moved, turned = points @ turn.T + [shift_mm, 0.0, 0.0], normals @ turn.T
        return scan_shape._mirror_plane(moved, turned, cKDTree(moved), 2.0)

    normal, offset = plane_found(12.0, 5.0)
    # the plane x = 0 turned by 12 degrees about y and moved 5 mm along x
    assert np.degrees(np.arccos(normal[0])) == pytest.approx(12.0, abs=0.5)
    assert offset == pytest.approx(5.0 * np.cos(np.radians(12.0)), abs=0.5)
    normal, _ = plane_found(35.0, 0.0)
    assert np.degrees(np.arccos(normal[0])) <= scan_shape.MIRROR_PLANE_DEG


def test_a_face_lopsided_about_the_fit_is_refused_as_the_side_of_a_head():
    """A fit that passes every other test but is neither mirror-symmetric nor has a clear nose
    on its midline is refused with a reason that says the face does not face the camera; the
    last look takes it only if its scan is symmetric about its own midline near it, which
    the side of a head is not (fits on real whole heads: at most 0.68)."""
    pose = fp.FacePose(
        np.eye(3), np.zeros(3), 1.0, relief=5.0, symmetry=0.3, nose_ridge=0.2, own_symmetry=0.68
    )
    reason = fp._no_face_reason(pose)
    assert reason is not None and "side or back of a head" in reason
    assert fp._own_midline_look([pose]) is None
    # either witness of a midline is enough: the eyes and nose mirror-symmetric, or a nose
    assert fp._no_face_reason(replace(pose, symmetry=0.9)) is None
    assert fp._no_face_reason(replace(pose, nose_ridge=0.5)) is None
    # and a face's shape symmetric about its own midline near the fit, at the last look
    assert fp._own_midline_look([pose, replace(pose, own_symmetry=0.9)]).own_symmetry == 0.9
    assert fp._own_midline_look([replace(pose, own_symmetry=0.9, relief=1.0)]) is None


@pytest.mark.parametrize("fmt", ["obj", "stl", "off", "ply"])
def test_a_reposed_scan_reads_back_turned_and_rescaled_in_every_format(tmp_path, fmt):
    """The benchmark's re-posing of a real scan: written in each format and read back, the
    scan is the stored one turned, rescaled and shifted as the record says."""
    from _posed_cases import write_mesh

    from facevlm.scans.formats import read_mesh

    vertices, triangles, _ = synthetic_face(np.random.default_rng(2))
    path = tmp_path / f"face.{fmt}"
    write_mesh(path, vertices, triangles)
    back = read_mesh(path)
    # triangle by triangle, corner by corner (STL keeps no vertex that no triangle uses)
    assert np.allclose(back.vertices[back.triangles()], vertices[triangles], atol=1e-3)
    stored = FaceMesh.from_triangles(vertices, triangles)
    for seed in range(12):  # every format and unit comes up in a dozen seeds
        moved = repose_real(stored, 1.0, seed, tmp_path)
        again = read_mesh(moved.path)
        expected = vertices @ moved.rotation.T * moved.factor + moved.offset
        scale = np.abs(expected).max()
        corners = again.vertices[again.triangles()]
        assert np.allclose(corners, expected[triangles], atol=1e-5 * scale)

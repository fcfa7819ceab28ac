"""Point clouds without faces, as depth cameras and phone capture apps export them: one view's
points become the surface they sample (and the face pose finds the face on it); points from all
round, or too few, are refused with what to do."""

from __future__ import annotations

import numpy as np
import pytest
from _posed_cases import ict_face
from _scanner_files import write_point_ply
from scipy.spatial.transform import Rotation

from facevlm.render.face_pose import estimate_face_pose, rotation_angle_deg
from facevlm.scans import point_clouds
from facevlm.scans.errors import ScanError
from facevlm.scans.formats import read_mesh


@pytest.fixture(scope="module")
def captured_face():
    """An ICT-FaceKit face as a depth camera sees it: its surface points only, with sensor
    noise, in metres, turned any way (a registered capture), and the same face as a mesh."""
    rng = np.random.default_rng(11)
    _, _, face = ict_face(rng, "full")
    turn = Rotation.random(random_state=rng).as_matrix()
    points = (face.vertices + rng.normal(0.0, 0.3, face.vertices.shape)) @ turn.T / 1000.0
    colours = rng.integers(0, 256, (len(points), 3)).astype(np.uint8)
    return face, turn, points, colours


def test_a_depth_capture_becomes_a_surface_the_face_pose_finds_the_face_on(tmp_path, captured_face):
    face, turn, points, colours = captured_face
    write_point_ply(tmp_path / "capture.ply", points, colours)
    scan = read_mesh(tmp_path / "capture.ply")

    assert scan.n_vertices == len(points) and scan.n_triangles > 1.5 * len(points)
    np.testing.assert_array_equal(scan.vertex_colors, colours)
    assert "triangulated as one view's surface" in scan.metadata["warnings"][-1]
    in_capture, in_mesh = estimate_face_pose(scan), estimate_face_pose(face)
    assert rotation_angle_deg(in_capture.rotation, turn @ in_mesh.rotation) < 3.0
    assert in_capture.radius == pytest.approx(in_mesh.radius / 1000.0, rel=0.03)


def test_the_same_points_as_obj_vertices_give_the_same_surface(tmp_path, captured_face):
    _, _, points, colours = captured_face
    write_point_ply(tmp_path / "capture.ply", points, colours)
    rows = "\n".join(f"v {x!r} {y!r} {z!r}" for x, y, z in points.astype(np.float32).tolist())
    (tmp_path / "capture.obj").write_text("# depth capture\n" + rows + "\n")

    ply, obj = read_mesh(tmp_path / "capture.ply"), read_mesh(tmp_path / "capture.obj")
    np.testing.assert_array_equal(obj.vertices, ply.vertices)
    np.testing.assert_array_equal(obj.polygon_indices, ply.polygon_indices)


def test_points_from_all_round_a_head_are_refused_with_what_to_do(tmp_path):
    rng = np.random.default_rng(2)
    direction = rng.normal(size=(5000, 3))
    points = 90.0 * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    write_point_ply(tmp_path / "round.ply", points, np.zeros((5000, 3), np.uint8))

    with pytest.raises(ScanError, match="not one view's surface .* triangulate it first"):
        read_mesh(tmp_path / "round.ply")


def test_a_cloud_above_the_sample_size_is_triangulated_from_a_seeded_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(point_clouds, "MAX_POINTS", 2000)  # the rule, at a size a test affords
    rng = np.random.default_rng(4)
    xy = rng.uniform(-100.0, 100.0, (2500, 2))
    points = np.column_stack([xy, 0.002 * (xy**2).sum(axis=1)])  # a shallow bowl
    write_point_ply(tmp_path / "dense.ply", points, np.zeros((len(points), 3), np.uint8))

    first, second = read_mesh(tmp_path / "dense.ply"), read_mesh(tmp_path / "dense.ply")
    assert first.n_vertices == 2000
    assert first.metadata["point_cloud"] == {"points": 2500, "triangulated": 2000}
    np.testing.assert_array_equal(first.vertices, second.vertices)

"""``read_mesh`` picks the reader by extension; ``inspect_mesh`` summarises a file as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import (
    inspect_mesh,
    read_mesh,
    write_bnd,
    write_bnt,
    write_lm3,
    write_obj,
    write_ply,
    write_vrml,
)


@pytest.mark.parametrize("name", ["a.wrl", "a.WRL", "a.vrml", "a.obj", "a.ply"])
def test_read_mesh_dispatches_by_extension(tmp_path, seam_mesh, name):
    path = tmp_path / name
    suffix = path.suffix.lower()
    writer = {".wrl": write_vrml, ".vrml": write_vrml, ".obj": write_obj, ".ply": write_ply}[suffix]
    writer(path, seam_mesh)
    mesh = read_mesh(path)

    np.testing.assert_array_equal(mesh.vertices, seam_mesh.vertices)
    assert mesh.metadata["format"] == {".wrl": "vrml", ".vrml": "vrml"}.get(suffix, suffix[1:])


def test_read_mesh_reads_bnt_as_a_mesh(tmp_path):
    grid = np.ones((3, 3))
    write_bnt(
        tmp_path / "a.bnt",
        grid * np.arange(3),
        grid * np.arange(3)[:, None],
        grid,
        grid / 2,
        grid / 2,
        zmin=-1e9,
        image_name="a.png",
    )

    assert read_mesh(tmp_path / "a.bnt").n_polygons == 2 * 2 * 2


def test_read_mesh_passes_options_to_the_reader(tmp_path, seam_mesh):
    write_vrml(tmp_path / "000.wrl", seam_mesh)
    (tmp_path / "000.jpg").write_bytes(b"\xff\xd8")

    assert read_mesh(tmp_path / "000.wrl", texture_fallback="000.jpg").texture_path is not None


def test_unknown_extension_lists_the_supported_ones(tmp_path):
    path = tmp_path / "a.3ds"
    path.write_text("MM")
    with pytest.raises(ScanError) as info:
        read_mesh(path)

    assert info.value.path == path
    for suffix in (".wrl", ".vrml", ".obj", ".ply", ".bnt", ".stl", ".off"):
        assert suffix in info.value.reason


def test_inspect_reports_structure_texture_and_landmarks(tmp_path, seam_mesh):
    path = tmp_path / "F0001_NE00WH_F3D.wrl"
    Image.new("RGB", (4, 4)).save(tmp_path / "F0001_NE00WH_F3D.bmp")
    write_vrml(path, seam_mesh, texture_url="F0001_NE00WH_F3D.bmp")
    write_bnd(path.with_suffix(".bnd"), [0, 4, 9], seam_mesh.vertices[[0, 4, 9]])
    report = inspect_mesh(path)

    assert json.loads(json.dumps(report)) == report  # JSON-ready as it is
    assert report["format"] == "vrml"
    assert (report["n_vertices"], report["n_polygons"]) == (10, 5)
    assert report["n_triangles"] == seam_mesh.n_triangles
    assert report["polygon_arity"] == {"3": 2, "4": 2, "5": 1}
    assert report["has_uv"] and report["face_varying_uv"]
    assert report["n_uv"] == 11
    assert report["n_multi_uv_vertices"] == 1
    assert report["texture"] == str((tmp_path / "F0001_NE00WH_F3D.bmp").resolve())
    assert report["n_landmarks"] == 3
    assert report["bounds"] == seam_mesh.bounds()
    assert report["warnings"] == []


def test_inspect_reads_lm3_beside_a_bnt(tmp_path):
    grid = np.ones((3, 3))
    write_bnt(
        tmp_path / "a.bnt",
        grid * np.arange(3),
        grid * np.arange(3)[:, None],
        grid,
        grid / 2,
        grid / 2,
        zmin=-1e9,
        image_name="a.png",
    )
    write_lm3(tmp_path / "a.lm3", {"Nose tip": [0, 0, 1], "Chin": [0, -1, 1]})
    report = inspect_mesh(tmp_path / "a.bnt")

    assert report["n_landmarks"] == 2
    assert report["face_varying_uv"] is False
    assert report["texture"] is None


def test_inspect_notes_unreadable_landmarks_without_failing(tmp_path, seam_mesh):
    write_vrml(tmp_path / "a.wrl", seam_mesh)
    write_bnd(tmp_path / "a.bnd", [0, 99], np.zeros((2, 3)))  # 99 is beyond the 10 vertices
    report = inspect_mesh(tmp_path / "a.wrl")

    assert report["n_landmarks"] is None
    assert any("landmarks" in w and "out of range" in w for w in report["warnings"])


def test_inspect_without_landmarks(tmp_path, seam_mesh):
    write_obj(tmp_path / "a.obj", seam_mesh)

    assert inspect_mesh(tmp_path / "a.obj")["n_landmarks"] is None

"""Wavefront OBJ, as BP4D frames use it: every face-corner spelling, negative indices, textures."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import read_obj, write_obj
from facevlm.scans.mesh import FaceMesh

SQUARE = """v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
vt 0 0
vt 1 0
vt 1 1
vt 0 1
"""


def read(tmp_path, text: str, name: str = "frame.obj") -> FaceMesh:
    path = tmp_path / name
    path.write_text(text)
    return read_obj(path)


def corner_uvs(mesh: FaceMesh) -> np.ndarray:
    return mesh.uv[mesh.corner_uv_indices()]


def test_round_trip_keeps_everything(tmp_path, seam_mesh):
    (tmp_path / "tex.jpg").write_bytes(b"\xff\xd8")
    write_obj(tmp_path / "m.obj", seam_mesh, "tex.jpg")
    back = read_obj(tmp_path / "m.obj")

    np.testing.assert_array_equal(back.vertices, seam_mesh.vertices)
    np.testing.assert_array_equal(back.polygon_offsets, seam_mesh.polygon_offsets)
    np.testing.assert_array_equal(back.polygon_indices, seam_mesh.polygon_indices)
    np.testing.assert_array_equal(back.uv, seam_mesh.uv)
    np.testing.assert_array_equal(back.uv_indices, seam_mesh.uv_indices)
    assert (tmp_path / "m.mtl").is_file()
    assert back.texture_path == (tmp_path / "tex.jpg").resolve()


def test_round_trip_vertex_colours(tmp_path, seam_mesh):
    seam_mesh.vertex_colors = np.arange(30, dtype=np.uint8).reshape(10, 3) * 8
    write_obj(tmp_path / "m.obj", seam_mesh)

    np.testing.assert_array_equal(
        read_obj(tmp_path / "m.obj").vertex_colors, seam_mesh.vertex_colors
    )


@pytest.mark.parametrize(
    ("face", "has_uv"),
    [
        ("f 1 2 3 4", False),
        ("f 1/1 2/2 3/3 4/4", True),
        ("f 1/1/1 2/2/1 3/3/1 4/4/1", True),
        ("f 1//1 2//1 3//1 4//1", False),
        ("f -4/-4 -3/-3 -2/-2 -1/-1", True),
    ],
)
def test_every_face_corner_spelling(tmp_path, face, has_uv):
    mesh = read(tmp_path, SQUARE + "vn 0 0 1\n" + face + "\n")

    assert mesh.polygon_indices.tolist() == [0, 1, 2, 3]
    assert mesh.has_uv == has_uv
    if has_uv:
        np.testing.assert_array_equal(corner_uvs(mesh), [[0, 0], [1, 0], [1, 1], [0, 1]])


def test_negative_indices_count_from_the_vertices_defined_so_far(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 1 1 0\nf -3 -2 -1\nv 0 1 0\nf -4 -2 -1\n"
    mesh = read(tmp_path, text)

    assert mesh.polygon_indices.tolist() == [0, 1, 2, 0, 2, 3]


def test_polygons_of_any_arity_comments_and_indentation(tmp_path):
    text = (
        "# header comment\n  v 0 0 0\nv 1 0 0\nv 2 1 0 # trailing comment\nv 1 2 0\nv 0 1 0\n"
        "g face\ns 1\nf 1 2 3\n\tf 1 2 3 4\nf 1 2 3 4 5\n"
    )
    mesh = read(tmp_path, text)

    assert mesh.arities.tolist() == [3, 4, 5]
    assert mesh.n_triangles == 1 + 2 + 3


def test_crlf_line_endings(tmp_path):
    mesh = read(tmp_path, (SQUARE + "f 1/1 2/2 3/3\r\n").replace("\n", "\r\n"))

    assert mesh.n_polygons == 1
    assert mesh.has_uv


def test_mixed_uv_and_no_uv_corners_drop_the_uvs(tmp_path):
    mesh = read(tmp_path, SQUARE + "f 1/1 2/2 3/3\nf 1 3 4\n")

    assert mesh.uv is None
    assert any("texture coordinates" in w for w in mesh.metadata["warnings"])


def test_material_texture(tmp_path):
    (tmp_path / "faces.mtl").write_text(
        "newmtl other\nKd 1 1 1\nnewmtl skin\nmap_Kd -s 1 1 1 img/0001.jpg\n"
    )
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "0001.jpg").write_bytes(b"\xff\xd8")
    mesh = read(tmp_path, "mtllib faces.mtl\n" + SQUARE + "usemtl skin\nf 1/1 2/2 3/3\n")

    assert mesh.texture_path == (tmp_path / "img" / "0001.jpg").resolve()


def test_same_stem_image_is_the_fallback_texture(tmp_path):
    (tmp_path / "0001.jpg").write_bytes(b"\xff\xd8")
    mesh = read(tmp_path, SQUARE + "f 1/1 2/2 3/3\n", name="0001.obj")

    assert mesh.texture_path == (tmp_path / "0001.jpg").resolve()


def test_missing_material_library_is_a_warning(tmp_path):
    mesh = read(tmp_path, "mtllib gone.mtl\n" + SQUARE + "f 1/1 2/2 3/3\n")

    assert mesh.texture_path is None
    assert any("gone.mtl" in w for w in mesh.metadata["warnings"])


@pytest.mark.parametrize("library", ["../x.mtl", "/etc/x.mtl"])
def test_material_library_outside_the_folder_is_refused(tmp_path, library):
    with pytest.raises(ScanError, match="material library reference"):
        read(tmp_path, f"mtllib {library}\n" + SQUARE + "f 1 2 3\n")


def test_map_kd_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "m.mtl").write_text("newmtl a\nmap_Kd ../../etc/x.jpg\n")
    with pytest.raises(ScanError, match="escapes"):
        read(tmp_path, "mtllib m.mtl\n" + SQUARE + "f 1 2 3\n")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (SQUARE + "f 0 1 2\n", "index 0"),
        (SQUARE + "f 1 2 9\n", "out of range"),
        (SQUARE + "f 1/1 2/ 3/3\n", "malformed"),
        (SQUARE + "f 1/1/1/1 2 3\n", "malformed"),
        (SQUARE + "f 1 2 x\n", "f lines"),
        ("v 0 0 0\nv 1 nan 0\nv 0 1 0\nf 1 2 3\n", "NaN"),
        ("v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "fewer than 3"),
        (SQUARE, "no faces \\(4 points: a point cloud"),
        ("f 1 2 3\n", "no 'v' lines"),
        (SQUARE + "f 1 2\n", "fewer than 3 corners"),
    ],
)
def test_bad_files(tmp_path, text, reason):
    with pytest.raises(ScanError, match=reason) as info:
        read(tmp_path, text)
    assert info.value.path == tmp_path / "frame.obj"

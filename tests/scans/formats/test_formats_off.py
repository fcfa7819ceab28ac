"""OFF and COFF: exact reading with comments and quads, colours in both conventions, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from _scanner_files import face_patch, write_off

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import inspect_mesh, read_mesh, read_off
from facevlm.scans.formats.limits import ReadLimits


@pytest.mark.parametrize("colours", [None, "uchar", "float"])
def test_reads_exactly(tmp_path, colours):
    mesh = face_patch()
    write_off(tmp_path / "scan.off", mesh, colours=colours)
    back = read_mesh(tmp_path / "scan.off")

    np.testing.assert_array_equal(back.vertices, mesh.vertices)
    np.testing.assert_array_equal(back.polygon_offsets, mesh.polygon_offsets)
    np.testing.assert_array_equal(back.polygon_indices, mesh.polygon_indices)
    if colours is None:
        assert back.vertex_colors is None
    else:
        np.testing.assert_array_equal(back.vertex_colors, mesh.vertex_colors)


def test_counts_on_the_keyword_line_mixed_arity_normals_and_face_colours(tmp_path):
    text = (
        "NOFF 5 2 0\n"
        "0 0 0  0 0 1\n1 0 0 0 0 1\n1 1 0 0 0 1\n0 1 0 0 0 1\n0.5 2 0 0 0 1\n"
        "4 0 1 2 3 255 0 0\n3 3 2 4   # a triangle with a comment\n"
    )
    (tmp_path / "m.off").write_text(text)
    mesh = read_off(tmp_path / "m.off")

    assert mesh.arities.tolist() == [4, 3] and mesh.polygon_indices.tolist() == [
        0,
        1,
        2,
        3,
        3,
        2,
        4,
    ]
    assert mesh.vertex_colors is None


def test_texture_coordinates_need_an_image_beside_the_file(tmp_path):
    text = "STOFF\n3 1 0\n0 0 0 0 0\n1 0 0 1 0\n0 1 0 0 1\n3 0 1 2\n"
    (tmp_path / "m.off").write_text(text)
    without = read_off(tmp_path / "m.off")
    (tmp_path / "m.png").write_bytes(b"\x89PNG")
    with_image = read_off(tmp_path / "m.off")

    assert without.uv is None and "no image" in without.metadata["warnings"][-1]
    np.testing.assert_array_equal(with_image.uv, [[0, 0], [1, 0], [0, 1]])
    assert with_image.texture_path == (tmp_path / "m.png").resolve()


def test_inspect_reports_off_colours(tmp_path):
    write_off(tmp_path / "scan.off", face_patch(), colours="uchar")
    report = inspect_mesh(tmp_path / "scan.off")

    assert report["format"] == "off" and report["has_vertex_colors"]
    assert report["polygon_arity"] == {"4": 25}


HEADER = "OFF\n3 1 0\n"
VERTICES = "0 0 0\n1 0 0\n0 1 0\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("PLY\n3 1 0\n", "not an OFF file"),
        ("4OFF\n3 1 0\n", "only 3D"),
        ("OFF BINARY\n3 1 0\n", "binary OFF"),
        ("OFF\n", "no vertex and face counts"),
        ("OFF\n3\n" + VERTICES + "3 0 1 2\n", "counts line"),
        ("OFF\n3 -1 0\n", "counts line"),
        ("OFF\n3 0 0\n" + VERTICES, "no faces"),
        (HEADER + VERTICES, "truncated"),
        (HEADER + VERTICES + "3 0 1 2\n3 0 1 2\n", "unexpected lines"),
        (HEADER + "0 0 0\n1 0\n0 1 0\n3 0 1 2\n", "vertex 1 has 2 numbers"),
        (HEADER + "0 0 0\n1 x 0\n0 1 0\n3 0 1 2\n", "bad number"),
        (HEADER + "0 0 0\n1 nan 0\n0 1 0\n3 0 1 2\n", "NaN"),
        (HEADER + "0 0 0\n1 1e9 0\n0 1 0\n3 0 1 2\n", "absurd"),
        (HEADER + VERTICES + "3 0 1 7\n", "out of range"),
        (HEADER + VERTICES + "3 0 -1 2\n", "out of range"),
        (HEADER + VERTICES + "3 0 1.5 2\n", "not an integer"),
        (HEADER + VERTICES + "4 0 1 2\n", "declares 4 corners"),
        (HEADER + VERTICES + "2 0 1\n", "3 or more"),
        (HEADER + "0 0 0\n0 0 0\n0 0 0\n3 0 1 2\n", "degenerate"),
        ("COFF\n3 1 0\n0 0 0 1 2\n1 0 0 1 2\n0 1 0 1 2\n3 0 1 2\n", "does not fit"),
        ("COFF\n3 1 0\n0 0 0 300 0 0\n1 0 0 0 0 0\n0 1 0 0 0 0\n3 0 1 2\n", "neither"),
        ("COFF\n3 1 0\n0 0 0 -1 0 0\n1 0 0 0 0 0\n0 1 0 0 0 0\n3 0 1 2\n", "negative"),
        ("OFF\n99999999 1 0\n", "limit"),
        (HEADER + "0 0 0\n1,0 0\n0 1 0\n3 0 1 2\n", "','"),
    ],
)
def test_bad_files(tmp_path, text, reason):
    path = tmp_path / "bad.off"
    path.write_text(text)
    with pytest.raises(ScanError) as info:
        read_off(path)
    assert info.value.path == path and reason in info.value.reason, info.value.reason
    assert "\n" not in str(info.value)


def test_line_count_is_bounded_before_splitting(tmp_path):
    path = tmp_path / "many.off"
    path.write_text(HEADER + VERTICES + "3 0 1 2\n" + "\n" * 3000)
    with pytest.raises(ScanError, match="lines"):
        read_mesh(path, limits=ReadLimits(max_vertices=100, max_polygons=100))

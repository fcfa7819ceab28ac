"""Per-vertex colour as the texture: PLY as depth cameras and scanners write it, and COFF.

Many capture devices export colour per vertex rather than as an image. The readers must bring
those colours into ``FaceMesh.vertex_colors`` whatever the encoding and type, and the texture
modality must then draw them: checked with a real offscreen render.
"""

from __future__ import annotations

import numpy as np
import pytest
from _scanner_files import face_patch, write_colour_ply, write_off

from facevlm.scans.formats import inspect_mesh, read_mesh, read_ply


@pytest.mark.parametrize("encoding", ["binary_little_endian", "binary_big_endian", "ascii"])
@pytest.mark.parametrize("colour_type", ["uchar", "ushort", "float"])
@pytest.mark.parametrize("alpha", [True, False])
def test_ply_colours_read_in_every_encoding_and_type(tmp_path, encoding, colour_type, alpha):
    mesh = face_patch()
    expected = write_colour_ply(tmp_path / "c.ply", mesh, encoding, colour_type, alpha=alpha)
    back = read_ply(tmp_path / "c.ply")

    np.testing.assert_array_equal(back.vertex_colors, expected)
    np.testing.assert_array_equal(back.vertices, mesh.vertices)
    assert back.metadata["warnings"] == []


@pytest.mark.parametrize(
    "names", [("diffuse_red", "diffuse_green", "diffuse_blue"), ("r", "g", "b")]
)
def test_other_colour_property_names(tmp_path, names):
    mesh = face_patch()
    expected = write_colour_ply(tmp_path / "c.ply", mesh, names=names)

    np.testing.assert_array_equal(read_ply(tmp_path / "c.ply").vertex_colors, expected)


def test_ascii_uchar_colours_of_0_and_1_are_not_taken_for_floats(tmp_path):
    """Ascii numbers are all parsed as floats; the declared type says they are 0..255."""
    text = (
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0 1 0 0\n1 0 0 0 1 0\n0 1 0 0 0 1\n3 0 1 2\n"
    )
    (tmp_path / "c.ply").write_text(text)

    assert read_ply(tmp_path / "c.ply").vertex_colors.max() == 1


def test_float_colours_written_as_0_to_255(tmp_path):
    text = (
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nproperty float red\nproperty float green\nproperty float blue\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0 200 10 0\n1 0 0 0 1 0\n0 1 0 0 0 255\n3 0 1 2\n"
    )
    (tmp_path / "c.ply").write_text(text)

    assert read_ply(tmp_path / "c.ply").vertex_colors.tolist() == [[200, 10, 0], [0, 1, 0],
                                                                   [0, 0, 255]]  # fmt: skip


@pytest.mark.parametrize(("values", "why"), [("-1 0 0", "negative"), ("900 0 0", "no colour")])
def test_unusable_colours_are_dropped_with_a_warning_keeping_the_geometry(tmp_path, values, why):
    text = (
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        "property float z\nproperty float red\nproperty float green\nproperty float blue\n"
        "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
        f"0 0 0 {values}\n1 0 0 0 1 0\n0 1 0 0 0 1\n3 0 1 2\n"
    )
    (tmp_path / "c.ply").write_text(text)
    mesh = read_ply(tmp_path / "c.ply")

    assert mesh.vertex_colors is None and mesh.n_vertices == 3
    assert why in mesh.metadata["warnings"][0]


def test_inspect_reports_colours(tmp_path):
    write_colour_ply(tmp_path / "c.ply", face_patch())
    report = inspect_mesh(tmp_path / "c.ply")

    assert report["has_vertex_colors"] and not report["has_uv"]
    assert report["encoding"] == "binary"


# ---------------------------------------------------------------------------------- rendering
def two_colour_patch():
    """The face patch coloured pure red on its left half (x < 0), pure blue on its right."""
    mesh = face_patch(side=12)
    left = mesh.vertices[:, 0] < -3
    right = mesh.vertices[:, 0] > 3
    colours = np.full((mesh.n_vertices, 3), 128, dtype=np.uint8)
    colours[left], colours[right] = (255, 0, 0), (0, 0, 255)
    mesh.vertex_colors = colours
    return mesh


@pytest.fixture(scope="module")
def texture_renderer():
    from facevlm.render.renderer import MultiviewRenderer, RenderSettings

    renderer = MultiviewRenderer(RenderSettings(size=64, views="0", modality="texture"))
    yield renderer
    renderer.close()


@pytest.mark.parametrize("kind", ["ply-binary", "ply-ascii-float", "coff"])
def test_texture_modality_renders_the_file_vertex_colours(tmp_path, texture_renderer, kind):
    mesh = two_colour_patch()
    if kind == "coff":
        write_off(tmp_path / "scan.off", mesh, colours="uchar")
        path = tmp_path / "scan.off"
    else:
        encoding = "binary_little_endian" if kind == "ply-binary" else "ascii"
        colour_type = "uchar" if kind == "ply-binary" else "float"
        write_colour_ply(tmp_path / "scan.ply", mesh, encoding, colour_type)
        path = tmp_path / "scan.ply"
    (image,) = texture_renderer.render(read_mesh(path))

    row = image[28:36].astype(int)  # a band across the middle of the face
    left, right = row[:, 6:24].reshape(-1, 3), row[:, 40:58].reshape(-1, 3)
    drawn_left, drawn_right = left[left.sum(1) > 0], right[right.sum(1) > 0]
    assert len(drawn_left) > 50 and len(drawn_right) > 50, "the face does not fill the band"
    # the file's colours, not a grey shading: red on the left, blue on the right (unlit)
    assert (drawn_left[:, 0] > 200).mean() > 0.9 and (drawn_left[:, 2] < 40).mean() > 0.9
    assert (drawn_right[:, 2] > 200).mean() > 0.9 and (drawn_right[:, 0] < 40).mean() > 0.9

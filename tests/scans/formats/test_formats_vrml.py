"""VRML 2.0 reading and writing, as BU-3DFE and BU-4DFE files need it.

The reader must keep what VTK's importer loses: shared vertices, polygons of any arity and a
separate texCoordIndex (face-varying UVs), and it must turn every kind of bad file into a
ScanError naming the file.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import read_vrml, write_vrml
from facevlm.scans.mesh import FaceMesh

# In the style of a real BU-3DFE file: Transform > Shape > IndexedFaceSet with a separate
# texCoordIndex, an ImageTexture url and six Viewpoints; plus what the spec allows and real files
# vary in: comments (also inside lists), lists with and without commas, exponent notation, a
# missing final -1.
SNIPPET = """#VRML V2.0 utf8

# exported by the scanner software
Transform {
  children [
    Shape {
      geometry IndexedFaceSet {
        creaseAngle 1.0
        coord Coordinate {
          point [
            0 0 0, 1 0 0, 2 0 0,   # first row
            0 1 0 1 1 0 2 1.0 0
            0 2 0, 1e0 2 0, 2.0E+00 2 -0.5e-1,
            3 1 0
          ]
        }
        coordIndex [
          0 1 4 -1, 0 4 3 -1,     # two triangles
          1 2 5 4 -1, 3 4 7 6 -1,   # two quads
          4 5 9 8 7 -1            # a pentagon
        ]
        texCoord TextureCoordinate {
          point [ 0 0, 0.5 0, 1 0, 0 0.5, 0.5 0.5, 1 0.5, 0 1, 0.5 1, 1 1, 1 0.75, 0.25 0.25 ]
        }
        texCoordIndex [ 0 1 4 -1 0 4 3 -1 1 2 5 4 -1 3 4 7 6 -1 10 5 9 8 7 ]
      }
      appearance Appearance {
        texture ImageTexture { url "face.bmp" }
      }
    }
  ]
}
Viewpoint { position 0 0 500 orientation 0 1 0 0 description "Front" }
Viewpoint { position 0 0 -500 orientation 0 1 0 3.14 description "Back" }
Viewpoint { position -500 0 0 orientation 0 1 0 -1.57 description "Left" }
Viewpoint { position 500 0 0 orientation 0 1 0 1.57 description "Right" }
Viewpoint { position 0 500 0 orientation 1 0 0 -1.57 description "Top" }
Viewpoint { position 0 -500 0 orientation 1 0 0 1.57 description "Bottom" }
"""


def write(folder: Path, text: str, name: str = "scan.wrl") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def corner_uvs(mesh: FaceMesh) -> np.ndarray:
    return mesh.uv[mesh.corner_uv_indices()]


# ------------------------------------------------------------------------ the real-style file
def test_snippet_keeps_shared_vertices_and_polygon_arities(tmp_path):
    mesh = read_vrml(write(tmp_path, SNIPPET))

    assert mesh.n_vertices == 10  # not one point per corner (19) as VTK would make
    assert mesh.n_polygons == 5
    assert sorted(np.bincount(mesh.arities).nonzero()[0].tolist()) == [3, 4, 5]
    assert np.bincount(mesh.arities).tolist() == [0, 0, 0, 2, 2, 1]
    assert mesh.n_triangles == 2 + 2 * 2 + 3
    assert mesh.polygon_indices[mesh.polygon_offsets[4] :].tolist() == [4, 5, 9, 8, 7]


def test_snippet_numbers_in_every_spelling(tmp_path):
    mesh = read_vrml(write(tmp_path, SNIPPET))

    np.testing.assert_array_equal(mesh.vertices[7], [1.0, 2.0, 0.0])  # "1e0 2 0"
    np.testing.assert_array_equal(mesh.vertices[8], [2.0, 2.0, -0.05])  # "2.0E+00 2 -0.5e-1"
    np.testing.assert_array_equal(mesh.vertices[5], [2.0, 1.0, 0.0])  # a row without commas


def test_snippet_uvs_are_face_varying(tmp_path):
    mesh = read_vrml(write(tmp_path, SNIPPET))

    assert mesh.uv.shape == (11, 2)
    assert mesh.uv_indices is not None
    assert len(mesh.uv_indices) == len(mesh.polygon_indices)
    uvs_of_vertex_4 = set(mesh.uv_indices[mesh.polygon_indices == 4].tolist())
    assert uvs_of_vertex_4 == {4, 10}  # the seam vertex carries two texture coordinates
    np.testing.assert_array_equal(mesh.uv[10], [0.25, 0.25])


def test_snippet_texture_is_resolved_beside_the_file(tmp_path):
    (tmp_path / "face.bmp").write_bytes(b"BM")
    mesh = read_vrml(write(tmp_path, SNIPPET))

    assert mesh.texture_path == (tmp_path / "face.bmp").resolve()
    assert mesh.metadata["texture_url"] == "face.bmp"
    assert mesh.metadata["warnings"] == []


def test_per_vertex_uvs_without_tex_coord_index(tmp_path):
    text = SNIPPET.replace(
        "texCoordIndex [ 0 1 4 -1 0 4 3 -1 1 2 5 4 -1 3 4 7 6 -1 10 5 9 8 7 ]", ""
    ).replace(", 0.25 0.25 ]", " ]")
    mesh = read_vrml(write(tmp_path, text))

    assert mesh.uv_indices is None
    assert len(mesh.uv) == mesh.n_vertices


# ------------------------------------------------------------------------ round trips
def test_round_trip_keeps_everything(tmp_path, seam_mesh):
    path = tmp_path / "out.wrl"
    (tmp_path / "tex.bmp").write_bytes(b"BM")
    write_vrml(path, seam_mesh, texture_url="tex.bmp")
    back = read_vrml(path)

    np.testing.assert_array_equal(back.vertices, seam_mesh.vertices)  # exact, not rounded
    np.testing.assert_array_equal(back.polygon_offsets, seam_mesh.polygon_offsets)
    np.testing.assert_array_equal(back.polygon_indices, seam_mesh.polygon_indices)
    np.testing.assert_array_equal(back.uv, seam_mesh.uv)
    np.testing.assert_array_equal(back.uv_indices, seam_mesh.uv_indices)
    assert back.texture_path == (tmp_path / "tex.bmp").resolve()
    assert back.metadata["texture_url"] == "tex.bmp"


def test_written_file_has_the_real_layout(tmp_path, seam_mesh):
    path = tmp_path / "out.wrl"
    write_vrml(path, seam_mesh, texture_url="tex.bmp")
    text = path.read_text()

    assert text.startswith("#VRML V2.0 utf8")
    for node in (
        "Transform",
        "Shape",
        "IndexedFaceSet",
        "Coordinate",
        "TextureCoordinate",
        "coordIndex",
        "texCoordIndex",
        'url "tex.bmp"',
    ):
        assert node in text
    for view in ("Front", "Back", "Left", "Right", "Top", "Bottom"):
        assert f'description "{view}"' in text
    assert text.count("Viewpoint {") == 6


def test_round_trip_per_vertex_uvs_and_no_texture(tmp_path, seam_mesh):
    mesh = FaceMesh(
        seam_mesh.vertices,
        seam_mesh.polygon_offsets,
        seam_mesh.polygon_indices,
        uv=seam_mesh.uv[:10],
    )
    path = tmp_path / "out.wrl"
    write_vrml(path, mesh)
    back = read_vrml(path)

    assert "texCoordIndex" not in path.read_text()
    assert back.uv_indices is None
    np.testing.assert_array_equal(back.uv, mesh.uv)
    assert back.texture_path is None


def test_landmarks_comment_is_written_and_ignored_by_the_reader(tmp_path, seam_mesh):
    seam_mesh.landmarks = seam_mesh.vertices[[0, 4]]
    seam_mesh.landmark_labels = ["chin", "nose tip"]
    path = tmp_path / "out.wrl"
    write_vrml(path, seam_mesh, landmarks_comment=True)

    assert "# nose tip:" in path.read_text()
    np.testing.assert_array_equal(read_vrml(path).vertices, seam_mesh.vertices)


@pytest.mark.parametrize("url", ["/etc/passwd", "../other/tex.bmp", 'a"b.bmp', "C:/tex.bmp"])
def test_writer_refuses_urls_the_reader_would_refuse(tmp_path, seam_mesh, url):
    with pytest.raises(ValueError):
        write_vrml(tmp_path / "out.wrl", seam_mesh, texture_url=url)


# ------------------------------------------------------------------------ textures
def test_missing_texture_is_a_warning_not_an_error(tmp_path):
    mesh = read_vrml(write(tmp_path, SNIPPET))

    assert mesh.texture_path is None
    assert any("face.bmp" in w for w in mesh.metadata["warnings"])


def test_fallback_texture_when_the_file_names_none(tmp_path):
    (tmp_path / "000.jpg").write_bytes(b"\xff\xd8")
    text = SNIPPET.replace('texture ImageTexture { url "face.bmp" }', "")
    mesh = read_vrml(write(tmp_path, text, "000.wrl"), texture_fallback="000.jpg")

    assert mesh.texture_path == (tmp_path / "000.jpg").resolve()


def test_fallback_texture_when_the_named_one_is_missing(tmp_path):
    (tmp_path / "000.jpg").write_bytes(b"\xff\xd8")
    mesh = read_vrml(write(tmp_path, SNIPPET, "000.wrl"), texture_fallback="000.jpg")

    assert mesh.texture_path == (tmp_path / "000.jpg").resolve()
    assert any("face.bmp" in w for w in mesh.metadata["warnings"])


def test_no_texture_and_no_fallback_gives_none(tmp_path):
    text = SNIPPET.replace('texture ImageTexture { url "face.bmp" }', "")
    mesh = read_vrml(write(tmp_path, text))

    assert mesh.texture_path is None


def test_empty_url_means_no_texture(tmp_path):
    (tmp_path / "000.jpg").write_bytes(b"\xff\xd8")
    path = write(tmp_path, SNIPPET.replace('"face.bmp"', '""'), "000.wrl")

    assert read_vrml(path, texture_fallback="000.jpg").texture_path.name == "000.jpg"


def test_texture_url_in_a_subfolder_is_allowed(tmp_path):
    (tmp_path / "textures").mkdir()
    (tmp_path / "textures" / "face.bmp").write_bytes(b"BM")
    mesh = read_vrml(write(tmp_path, SNIPPET.replace('"face.bmp"', '"textures\\\\face.bmp"')))

    assert mesh.texture_path == (tmp_path / "textures" / "face.bmp").resolve()


@pytest.mark.parametrize(
    "url",
    [
        "../face.bmp",
        "sub/../../face.bmp",
        "/etc/passwd",
        "C:\\\\scans\\\\face.bmp",
        "file:///etc/passwd",
        "http://example.com/face.bmp",
    ],
)
def test_texture_url_outside_the_folder_is_refused(tmp_path, url):
    (tmp_path / "face.bmp").write_bytes(b"BM")
    sub = tmp_path / "sub"
    sub.mkdir()
    path = write(sub, SNIPPET.replace('"face.bmp"', f'"{url}"'))

    with pytest.raises(ScanError) as info:
        read_vrml(path)
    assert info.value.path == path
    assert "texture reference" in info.value.reason


# ------------------------------------------------------------------------ bad files
def bad(tmp_path: Path, text: str | bytes) -> ScanError:
    path = tmp_path / "bad.wrl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ScanError) as info:
        read_vrml(path)
    assert info.value.path == path
    return info.value


def test_truncated_file(tmp_path, seam_mesh):
    good = tmp_path / "good.wrl"
    write_vrml(good, seam_mesh)
    data = good.read_bytes()
    cut = data.index(b"point [") + 60

    assert "never closed" in bad(tmp_path, data[:cut]).reason


def test_file_cut_before_the_polygons(tmp_path):
    assert "coordIndex" in bad(tmp_path, SNIPPET[: SNIPPET.index("coordIndex")]).reason


def test_nan_coordinates(tmp_path):
    assert "NaN" in bad(tmp_path, SNIPPET.replace("0 2 0, 1e0", "0 nan 0, 1e0")).reason


def test_absurd_coordinates(tmp_path):
    assert "absurd" in bad(tmp_path, SNIPPET.replace("0 2 0, 1e0", "0 2e9 0, 1e0")).reason


def test_empty_mesh(tmp_path):
    text = (
        "#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [ ] }"
        " coordIndex [ ] } }\n"
    )
    assert "empty" in bad(tmp_path, text).reason


def test_empty_file(tmp_path):
    assert "empty" in bad(tmp_path, "").reason


def test_not_vrml(tmp_path):
    assert "not a VRML file" in bad(tmp_path, "ply\nformat ascii 1.0\n").reason
    assert (
        "VRML 1.0 file has no IndexedFaceSet"
        in bad(tmp_path, "#VRML V1.0 ascii\nSeparator { }\n").reason
    )


def test_no_face_set(tmp_path):
    assert "IndexedFaceSet" in bad(tmp_path, "#VRML V2.0 utf8\nTransform { }\n").reason


def test_index_out_of_range(tmp_path):
    assert "out of range" in bad(tmp_path, SNIPPET.replace("4 5 9 8 7 -1", "4 5 99 8 7 -1")).reason


def test_negative_index_other_than_terminator(tmp_path):
    assert "-2" in bad(tmp_path, SNIPPET.replace("0 1 4 -1, 0 4 3", "0 1 4 -2, 0 4 3")).reason


def test_fractional_index(tmp_path):
    assert "coordIndex" in bad(tmp_path, SNIPPET.replace("0 1 4 -1,", "0 1.5 4 -1,")).reason


def test_tex_coord_index_with_another_structure(tmp_path):
    text = SNIPPET.replace("10 5 9 8 7 ]", "10 5 9 8 -1 7 ]")
    assert "polygon structure" in bad(tmp_path, text).reason


def test_non_utf8_garbage_inside_a_list(tmp_path):
    data = SNIPPET.encode().replace(b"0 1 0 1 1 0", b"0 1 0 \xff\xfe 1 0")
    assert "coord point" in bad(tmp_path, data).reason


def test_non_utf8_texture_url(tmp_path):
    assert "url" in bad(tmp_path, SNIPPET.encode().replace(b"face.bmp", b"f\xffce.bmp")).reason


def test_odd_number_of_coordinates(tmp_path):
    assert "triples" in bad(tmp_path, SNIPPET.replace("3 1 0\n", "3 1\n")).reason


def test_missing_file(tmp_path):
    with pytest.raises(ScanError, match="not found"):
        read_vrml(tmp_path / "nope.wrl")


# ------------------------------------------------------------------------ speed
def test_reading_is_bulk_not_per_token(tmp_path):
    """200,000 polygons (~3 MB of indices) read in well under the time a per-token loop takes."""
    n = 300
    grid = np.stack(np.meshgrid(np.arange(n), np.arange(n)), -1).reshape(-1, 2).astype(float)
    vertices = np.column_stack([grid, np.zeros(len(grid))])
    a = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]).ravel()
    triangles = np.concatenate(
        [np.stack([a, a + 1, a + n + 1], 1), np.stack([a, a + n + 1, a + n], 1)]
    )
    path = tmp_path / "big.wrl"
    write_vrml(
        path, FaceMesh.from_triangles(vertices, triangles, uv=grid / n, uv_triangles=triangles)
    )

    start = time.perf_counter()
    mesh = read_vrml(path)
    elapsed = time.perf_counter() - start

    assert mesh.n_polygons == len(triangles)
    assert elapsed < 3.0, f"read took {elapsed:.2f} s"


# ------------------------------------------------------------------------ several face sets
TWO_SHAPES = """#VRML V2.0 utf8
Transform { children [
  Shape {
    geometry IndexedFaceSet {
      coord Coordinate { point [ 0 0 0, 1 0 0, 0 1 0 ] }
      coordIndex [ 0 1 2 -1 ]
      texCoord TextureCoordinate { point [ 0 0, 1 0, 0 1 ] }
    }
    appearance Appearance { texture ImageTexture { url "left.bmp" } }
  }
  Shape {
    geometry IndexedFaceSet {
      coord Coordinate { point [ 5 0 0, 6 0 0, 6 1 0, 5 1 0 ] }
      coordIndex [ 0 1 2 3 -1 ]
      TEXCOORDS
    }
  }
] }
"""


def test_several_face_sets_are_merged(tmp_path):
    (tmp_path / "left.bmp").write_bytes(b"BM")
    text = TWO_SHAPES.replace(
        "TEXCOORDS",
        "texCoord TextureCoordinate { point [ 0 0, 1 0, 1 1, 0 1 ] } texCoordIndex [ 3 2 1 0 ]",
    )
    mesh = read_vrml(write(tmp_path, text))

    assert mesh.metadata["n_face_sets"] == 2
    assert mesh.n_vertices == 3 + 4
    assert mesh.polygon_indices.tolist() == [0, 1, 2, 3, 4, 5, 6]  # second set shifted by 3
    assert mesh.arities.tolist() == [3, 4]
    # first set's per-vertex UVs become face-varying like the second set's
    assert mesh.uv_indices.tolist() == [0, 1, 2, 6, 5, 4, 3]
    assert mesh.texture_path == (tmp_path / "left.bmp").resolve()  # url between the shapes


def test_face_sets_without_uvs_everywhere_drop_them(tmp_path):
    mesh = read_vrml(write(tmp_path, TWO_SHAPES.replace("TEXCOORDS", "")))

    assert mesh.uv is None
    assert any("only some" in w for w in mesh.metadata["warnings"])

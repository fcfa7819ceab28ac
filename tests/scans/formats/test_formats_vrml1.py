"""VRML 1.0, as laser scanners and older face databases export it, read through ``read_vrml``.

The reader must walk the node sequence the way a VRML 1.0 browser does (state set by
Coordinate3, TextureCoordinate2, Texture2, Material and transforms, saved by Separators), keep
shared vertices, and refuse every kind of bad file with a ScanError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _scanner_files import face_patch, write_laser_vrml1

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import inspect_mesh, read_mesh, read_vrml, read_vrml1
from facevlm.scans.formats.limits import ReadLimits


def polygons_of(mesh) -> list[list[int]]:
    bounds = zip(mesh.polygon_offsets[:-1], mesh.polygon_offsets[1:], strict=True)
    return [mesh.polygon_indices[a:b].tolist() for a, b in bounds]


def write(tmp_path: Path, body: str, name: str = "scan.wrl") -> Path:
    path = tmp_path / name
    path.write_text("#VRML V1.0 ascii\n" + body)
    return path


def bad(tmp_path: Path, body: str | bytes) -> ScanError:
    path = tmp_path / "bad.wrl"
    raw = body if isinstance(body, bytes) else body.encode()
    path.write_bytes(b"#VRML V1.0 ascii\n" + raw)
    with pytest.raises(ScanError) as info:
        read_vrml(path)
    assert info.value.path == path
    assert "\n" not in str(info.value)
    return info.value


SQUARE = "Coordinate3 { point [ 0 0 0, 10 0 0, 10 10 0, 0 10 0 ] }\n"


# ---------------------------------------------------------------------------------- real-shaped
def test_laser_scanner_export_reads_exactly(tmp_path):
    mesh = face_patch()
    expected = write_laser_vrml1(tmp_path / "scan.wrl", mesh)
    (tmp_path / "face.jpg").write_bytes(b"\xff\xd8\xff")
    back = read_mesh(tmp_path / "scan.wrl")

    np.testing.assert_array_equal(back.vertices, expected["vertices"])
    assert polygons_of(back) == expected["polygons"]
    assert back.uv_indices is not None  # textureCoordIndex differs from coordIndex
    np.testing.assert_array_equal(back.uv[back.uv_indices], expected["uv"][back.polygon_indices])
    assert back.texture_path == (tmp_path / "face.jpg").resolve()
    assert back.metadata["format"] == "vrml1" and back.metadata["n_face_sets"] == 2
    assert back.vertex_colors is None  # the Material is bound OVERALL: not per-vertex colour


def test_inspect_reports_vrml1(tmp_path):
    write_laser_vrml1(tmp_path / "scan.wrl", face_patch(), texture=None)
    report = inspect_mesh(tmp_path / "scan.wrl")

    assert report["format"] == "vrml1"
    assert report["polygon_arity"] == {"4": 25}
    assert report["has_uv"] and report["texture"] is None


def test_read_vrml1_refuses_vrml2(tmp_path):
    path = tmp_path / "v2.wrl"
    path.write_text("#VRML V2.0 utf8\nShape { }\n")
    with pytest.raises(ScanError, match="not a VRML 1.0 file"):
        read_vrml1(path)


def test_one_coordinate3_shared_by_two_face_sets_shares_vertices(tmp_path):
    path = write(
        tmp_path,
        f"Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0, 1, 2, -1 ] }}\n"
        "Separator { IndexedFaceSet { coordIndex [ 0 2 3 ] } } }\n",
    )
    mesh = read_vrml(path)

    assert mesh.n_vertices == 4
    assert polygons_of(mesh) == [[0, 1, 2], [0, 2, 3]]


def test_separator_restores_the_state_and_offsets_accumulate(tmp_path):
    path = write(
        tmp_path,
        f"Separator {{ {SQUARE}\n"
        "  Separator { Coordinate3 { point [ 0 0 5 1 0 5 1 1 5 ] } "
        "    IndexedFaceSet { coordIndex [ 0 1 2 -1 ] } }\n"
        "  IndexedFaceSet { coordIndex [ 3 2 1 0 -1 ] }\n"  # the outer Coordinate3 again
        "}\n",
    )
    mesh = read_vrml(path)

    assert mesh.n_vertices == 7
    np.testing.assert_array_equal(mesh.vertices[:3, 2], [5, 5, 5])
    assert polygons_of(mesh) == [[0, 1, 2], [6, 5, 4, 3]]


def test_transforms_are_applied(tmp_path):
    path = write(
        tmp_path,
        "Separator {\n"
        "  Translation { translation 100 0 0 }\n"
        "  Transform { rotation 0 0 1 1.5707963267948966 scaleFactor 2 2 2 }\n"
        f"  {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 2 3 ] }}\n"
        "}\n"
        "MatrixTransform { matrix 1 0 0 0  0 1 0 0  0 0 1 0  0 0 7 1 }\n"
        "DEF Square Coordinate3 { point [ 0 0 0, 1 0 0, 0 1 0 ] }\n"
        "IndexedFaceSet { coordIndex [ 0 1 2 ] }\n",
    )
    mesh = read_vrml(path)

    # translate(100) * rotate(90 deg about z) * scale(2): (10, 0, 0) -> (100, 20, 0)
    np.testing.assert_allclose(mesh.vertices[1], [100, 20, 0], atol=1e-9)
    np.testing.assert_allclose(mesh.vertices[2], [80, 20, 0], atol=1e-9)
    # the Separator ended: only the MatrixTransform's translation (last row) applies
    np.testing.assert_allclose(mesh.vertices[4:], [[0, 0, 7], [1, 0, 7], [0, 1, 7]])


def test_def_use_reuses_points(tmp_path):
    path = write(
        tmp_path,
        "Separator { DEF Pts Coordinate3 { point [ 0 0 0, 1 0 0, 1 1 0, 0 1 0 ] } }\n"
        "Separator { USE Pts IndexedFaceSet { coordIndex [ 0 1 2 -1 0 2 3 -1 ] } }\n",
    )
    mesh = read_vrml(path)

    assert mesh.n_vertices == 4 and polygons_of(mesh) == [[0, 1, 2], [0, 2, 3]]


def test_per_vertex_material_gives_vertex_colours(tmp_path):
    path = write(
        tmp_path,
        "Separator {\n"
        "  Material { diffuseColor [ 1 0 0, 0 1 0, 0 0 1, 1 1 1 ] }\n"
        "  MaterialBinding { value PER_VERTEX_INDEXED }\n"
        f"  {SQUARE}  IndexedFaceSet {{ coordIndex [ 0 1 2 3 -1 ] materialIndex -1 }}\n"
        "}\n",
    )
    mesh = read_vrml(path)

    np.testing.assert_array_equal(
        mesh.vertex_colors, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]
    )


def test_texture_coordinates_default_to_the_coordinate_index(tmp_path):
    (tmp_path / "t.png").write_bytes(b"\x89PNG")
    path = write(
        tmp_path,
        'Separator { Texture2 { filename "t.png" }\n'
        "  TextureCoordinate2 { point [ 0 0, 1 0, 1 1, 0 1 ] }\n"
        f"  {SQUARE}  IndexedFaceSet {{ coordIndex [ 0 1 2 3 ] textureCoordIndex -1 }} }}\n",
    )
    mesh = read_vrml(path)

    np.testing.assert_array_equal(mesh.uv[mesh.corner_uv_indices()], [[0, 0], [1, 0], [1, 1],
                                                                      [0, 1]])  # fmt: skip
    assert mesh.texture_path == (tmp_path / "t.png").resolve()


def test_face_set_and_switch(tmp_path):
    path = write(
        tmp_path,
        f"Separator {{ {SQUARE} FaceSet {{ numVertices [ 4 ] }}\n"
        "  Switch { whichChild -1 Separator { Coordinate3 { point [ 5 5 5 6 6 6 7 7 9 ] }"
        "    IndexedFaceSet { coordIndex [ 0 1 2 ] } } }\n"
        "  Sphere { radius 3 }\n}\n",
    )
    mesh = read_vrml(path)

    assert mesh.n_vertices == 4 and polygons_of(mesh) == [[0, 1, 2, 3]]
    assert any("Sphere" in w for w in mesh.metadata["warnings"])


def test_quoted_braces_and_comments_do_not_confuse_the_structure(tmp_path):
    path = write(
        tmp_path,
        '# a comment with { and }\nSeparator { Info { string "a } brace and a USE X" }\n'
        f"{SQUARE} # trailing {{\n IndexedFaceSet {{ coordIndex [ 0 1 2 3 ] }} }}\n",
    )

    assert read_vrml(path).n_polygons == 1


# ---------------------------------------------------------------------------------- refused
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Separator { IndexedFaceSet { coordIndex [ 0 1 2 ] } }", "before any Coordinate3"),
        (f"Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 9 ] }} }}", "out of range"),
        (f"Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 -3 ] }} }}", "-3"),
        (f"Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 2 ", "never closed"),
        (f"Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 2 ] }}", "never closed"),
        (f"Separator {{ {SQUARE} }} }}", "unbalanced"),
        ("Separator { Coordinate3 { point [ 0 0 0, 1 nan 0, 0 1 0 ] }"
         " IndexedFaceSet { coordIndex [ 0 1 2 ] } }", "NaN"),
        ("Separator { Coordinate3 { point [ 0 0 0, 1 x 0, 0 1 0 ] }"
         " IndexedFaceSet { coordIndex [ 0 1 2 ] } }", "bad number"),
        ("Separator { Coordinate3 { point [ 0 0 0, 1 0 0, 0 1 ] }"
         " IndexedFaceSet { coordIndex [ 0 1 2 ] } }", "not groups of 3"),
        (f"Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1.5 2 ] }} }}", "coordIndex"),
        ("Separator { Coordinate3 { point [ 0 0 0, 0 0 0, 0 0 0 ] }"
         " IndexedFaceSet { coordIndex [ 0 1 2 ] } }", "degenerate"),
        ("Separator { Coordinate3 { point [ 0 0 0, 1e9 0 0, 0 1 0 ] }"
         " IndexedFaceSet { coordIndex [ 0 1 2 ] } }", "absurd"),
        ("Separator { USE Nothing }", "before any DEF"),
        ("DEF A Separator { USE A }", "USEs itself"),
        (f"Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 ] }} }}", "fewer than 3"),
        (f"{{ {SQUARE} }}", "without a node type"),
        (f'Separator {{ Info {{ string "open }} {SQUARE}', "string never closed"),
        (f"Separator {{ Material {{ diffuseColor [ 2 0 0, 0 0 0, 0 0 0 ] }} MaterialBinding {{ value "
         f"PER_VERTEX }} {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 2 ] }} }}", "0..1"),
        ("Separator { " * 300 + "}" * 300, "deeper"),
        ("Info { }", "no IndexedFaceSet"),
    ],
)  # fmt: skip
def test_bad_files(tmp_path, body, reason):
    assert reason in bad(tmp_path, body).reason


def test_use_chains_cannot_multiply_without_bound(tmp_path):
    """Each level USEs the previous twice: 2^40 face sets if believed."""
    levels = [f"DEF L0 Separator {{ {SQUARE} IndexedFaceSet {{ coordIndex [ 0 1 2 ] }} }}"]
    levels += [f"DEF L{k} Separator {{ USE L{k - 1} USE L{k - 1} }}" for k in range(1, 40)]
    assert "too many node visits" in bad(tmp_path, "\n".join(levels)).reason


def test_vertex_limit_counts_every_transformed_copy(tmp_path):
    body = (
        f"DEF P Coordinate3 {{ point [ {', '.join(['0 0 0, 1 0 0, 0 1 0'] * 4)} ] }}\n"
        + "".join(
            f"Separator {{ Translation {{ translation {k} 0 0 }} IndexedFaceSet "
            "{ coordIndex [ 0 1 2 ] } }\n"
            for k in range(5)
        )
    )
    path = write(tmp_path, body)
    with pytest.raises(ScanError, match="limits.max_vertices"):
        read_mesh(path, limits=ReadLimits(max_vertices=40))


def test_node_count_is_bounded_by_the_polygon_limit(tmp_path):
    path = write(tmp_path, "Separator { " * 3 + "}" * 3)
    with pytest.raises(ScanError, match="limits.max_polygons"):
        read_mesh(path, limits=ReadLimits(max_polygons=2))


def test_colours_win_over_texture_coordinates_without_an_image(tmp_path):
    path = write(
        tmp_path,
        'Separator { Texture2 { filename "" }\n'
        "  TextureCoordinate2 { point [ 0 0, 1 0, 1 1, 0 1 ] }\n"
        "  Material { diffuseColor [ 1 0 0, 0 1 0, 0 0 1, 1 1 1 ] }\n"
        "  MaterialBinding { value PER_VERTEX_INDEXED }\n"
        f"  {SQUARE}  IndexedFaceSet {{ coordIndex [ 0 1 2 3 ] }} }}\n",
    )
    mesh = read_vrml(path)

    assert mesh.uv is None and mesh.vertex_colors is not None
    assert "colours kept" in mesh.metadata["warnings"][-1]


def test_gzip_compressed_files_read_within_the_size_limit(tmp_path):
    import gzip

    plain = write_laser_vrml1(tmp_path / "plain.wrl", face_patch(), texture=None)
    (tmp_path / "packed.wrl").write_bytes(gzip.compress((tmp_path / "plain.wrl").read_bytes()))
    np.testing.assert_array_equal(read_vrml(tmp_path / "packed.wrl").vertices, plain["vertices"])

    (tmp_path / "bomb.wrl").write_bytes(gzip.compress(b"#VRML V1.0 ascii\n" + b" " * 5_000_000))
    with pytest.raises(ScanError, match="once decompressed"):
        read_mesh(tmp_path / "bomb.wrl", limits=ReadLimits(max_scan_bytes=1_000_000))
    (tmp_path / "cut.wrl").write_bytes((tmp_path / "packed.wrl").read_bytes()[:-40])
    with pytest.raises(ScanError, match="gzip"):
        read_vrml(tmp_path / "cut.wrl")


def test_exporter_names_with_dots_and_dashes_work_with_use(tmp_path):
    path = write(
        tmp_path,
        "DEF Mesh.001-a Coordinate3 { point [ 0 0 0, 1 0 0, 0 1 0 ] }\n"
        "Separator { Coordinate3 { point [ 5 5 5, 6 5 5, 5 6 5 ] } }\n"
        "Separator { USE Mesh.001-a IndexedFaceSet { coordIndex [ 0 1 2 ] } }\n",
    )

    np.testing.assert_array_equal(read_vrml(path).vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])

"""glTF 2.0 (``.glb`` / ``.gltf``), as phone scanning apps export it: the scene read exactly and
welded into one surface, its files beside it used, and bad files refused with one reason."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest
from _scanner_files import TEXTURE_RGB, face_patch, write_gltf_scan

from facevlm.render.arrays import border_edges
from facevlm.scans.errors import ScanError
from facevlm.scans.formats import inspect_mesh, read_gltf, read_mesh
from facevlm.scans.formats.limits import ReadLimits
from facevlm.scans.mesh import FaceMesh

#: A root node as exporters write one: millimetres to metres and a quarter turn about x.
TO_METRES = np.array([[1e-3, 0, 0, 0], [0, 0, -1e-3, 0], [0, 1e-3, 0, 0], [0, 0, 0, 1.0]])


def _n_border_edges(mesh) -> int:
    triangles = mesh.triangles()
    offsets = np.arange(0, 3 * len(triangles) + 1, 3)
    return len(border_edges(offsets, triangles.ravel(), mesh.n_vertices))


def test_a_phone_scan_glb_is_one_welded_surface_placed_by_its_nodes(tmp_path):
    patch = face_patch()
    expected = write_gltf_scan(tmp_path / "scan.glb", patch, parent_matrix=TO_METRES)
    mesh = read_mesh(tmp_path / "scan.glb")

    # the two parts' duplicated vertices are one vertex again: the patch's own count and border
    assert mesh.n_vertices == expected["n_vertices"] == patch.n_vertices
    assert _n_border_edges(mesh) == _n_border_edges(patch) == 4 * 5
    # each triangle in the order written, its corners where the node hierarchy places them
    np.testing.assert_allclose(
        mesh.vertices[mesh.triangles()], expected["corners"], rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(mesh.vertex_colors[mesh.triangles()], expected["colours"])
    # the embedded texture, decoded; each corner keeps the UV of its own copy of the vertex
    assert mesh.texture_path == (tmp_path / "scan.glb").resolve()
    assert mesh.texture_image.shape == (4, 4, 3) and (mesh.texture_image == TEXTURE_RGB).all()
    np.testing.assert_allclose(mesh.uv[mesh.corner_uv_indices()].reshape(-1, 3, 2),
                               expected["uv"], atol=1e-12)  # fmt: skip
    assert mesh.metadata["format"] == "gltf" and mesh.metadata["container"] == "glb"


def test_a_gltf_with_its_files_beside_it_keeps_its_texture_per_corner(tmp_path):
    patch = face_patch()
    (tmp_path / "face texture.png").write_bytes(b"\x89PNG\r\n")
    expected = write_gltf_scan(
        tmp_path / "scan.gltf", patch, container="gltf", texture="face texture.png"
    )
    mesh = read_gltf(tmp_path / "scan.gltf")

    assert mesh.texture_path == (tmp_path / "face texture.png").resolve()
    assert mesh.n_vertices == patch.n_vertices  # welded, while each corner keeps its own UV
    np.testing.assert_allclose(mesh.uv[mesh.corner_uv_indices()].reshape(-1, 3, 2),
                               expected["uv"], atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(mesh.vertices[mesh.triangles()], expected["corners"], atol=1e-9)


def test_a_buffer_in_a_data_uri_reads_like_the_same_buffer_in_a_file(tmp_path):
    write_gltf_scan(tmp_path / "scan.gltf", face_patch(), container="gltf")
    document = json.loads((tmp_path / "scan.gltf").read_text())
    payload = base64.b64encode((tmp_path / "scan.bin").read_bytes()).decode()
    document["buffers"][0]["uri"] = "data:application/octet-stream;base64," + payload
    (tmp_path / "inline.gltf").write_text(json.dumps(document))

    inline, beside = read_gltf(tmp_path / "inline.gltf"), read_gltf(tmp_path / "scan.gltf")
    np.testing.assert_array_equal(inline.vertices, beside.vertices)
    np.testing.assert_array_equal(inline.polygon_indices, beside.polygon_indices)


def _glb(document: dict, blob: bytes) -> bytes:
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    blob += b"\0" * (-len(blob) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    body += struct.pack("<II", len(blob), 0x004E4942) + blob
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


def _square(primitive: dict, indices: list[int] | None) -> tuple[dict, bytes]:
    """A unit square's four corners (and ``indices`` as uint16) in a minimal document."""
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype="<f4").tobytes()
    views = [{"buffer": 0, "byteLength": 48}]
    accessors = [{"bufferView": 0, "componentType": 5126, "type": "VEC3", "count": 4}]
    blob = points
    primitive = {"attributes": {"POSITION": 0}, **primitive}
    if indices is not None:
        views.append({"buffer": 0, "byteOffset": 48, "byteLength": 2 * len(indices)})
        accessors.append({"bufferView": 1, "componentType": 5123, "type": "SCALAR",
                          "count": len(indices)})  # fmt: skip
        primitive["indices"] = 1
        blob += np.array(indices, dtype="<u2").tobytes()
    document = {
        "asset": {"version": "2.0"},
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [primitive]}],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob) + (-len(blob) % 4)}],
    }
    return document, blob


@pytest.mark.parametrize(
    ("mode", "indices", "triangles"),
    [
        (4, [0, 1, 2, 2, 1, 3], [[0, 1, 2], [2, 1, 3]]),
        (5, [0, 1, 2, 3], [[0, 1, 2], [1, 3, 2]]),  # a strip turns every other triangle back
        (6, [0, 1, 3, 2], [[0, 1, 3], [0, 3, 2]]),
        (4, None, None),  # no indices: the vertices in threes (one triangle of four)
    ],
)
def test_triangle_lists_strips_and_fans_without_a_scene(tmp_path, mode, indices, triangles):
    document, blob = _square({"mode": mode}, indices)
    (tmp_path / "square.glb").write_bytes(_glb(document, blob))
    mesh = read_gltf(tmp_path / "square.glb")

    corners = mesh.vertices[mesh.triangles()][:, :, :2].tolist()
    square = [[0, 0], [1, 0], [0, 1], [1, 1]]
    expected = [[square[i] for i in t] for t in (triangles or [[0, 1, 2]])]
    assert corners == expected


def test_points_and_lines_are_left_out_and_alone_refused(tmp_path):
    document, blob = _square({"mode": 0}, None)
    (tmp_path / "points.glb").write_bytes(_glb(document, blob))
    document["meshes"][0]["primitives"].append({"attributes": {"POSITION": 0}})
    (tmp_path / "both.glb").write_bytes(_glb(document, blob))

    with pytest.raises(ScanError, match="no triangles"):
        read_gltf(tmp_path / "points.glb")
    mesh = read_gltf(tmp_path / "both.glb")
    assert mesh.n_triangles == 1 and "points or lines" in mesh.metadata["warnings"][0]


def test_inspect_reports_a_glb(tmp_path):
    write_gltf_scan(tmp_path / "scan.glb", face_patch())
    report = inspect_mesh(tmp_path / "scan.glb")

    assert report["format"] == "gltf" and report["has_vertex_colors"]
    assert report["n_vertices"] == face_patch().n_vertices


def _broken(edit):
    """The square's file after ``edit(document, blob)`` (which may return a new blob)."""

    def make(tmp_path):
        document, blob = _square({}, [0, 1, 2, 2, 1, 3])
        blob = edit(document, blob) or blob
        (tmp_path / "bad.glb").write_bytes(_glb(document, blob))
        return tmp_path / "bad.glb"

    return make


def _set(path: str, value):
    """The square's file with one field of its JSON (a dotted path) set to ``value``."""

    def edit(document, blob):
        *keys, last = path.split(".")
        target = document
        for key in keys:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value

    return _broken(edit)


def _raw(data: bytes):
    def make(tmp_path):
        (tmp_path / "bad.glb").write_bytes(data)
        return tmp_path / "bad.glb"

    return make


def _outside(tmp_path):
    (tmp_path / "scan").mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64)
    document, _ = _square({}, None)
    document["buffers"][0]["uri"] = "../secret.bin"
    (tmp_path / "scan" / "bad.gltf").write_text(json.dumps(document))
    return tmp_path / "scan" / "bad.gltf"


def _nan_position(document, blob):
    return struct.pack("<f", float("nan")) + blob[4:]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_raw(b"glTF" + struct.pack("<II", 1, 20) + b"\0" * 8), "version 1"),
        (_raw(b"solid x\n" * 4), "not glTF JSON|does not parse"),
        (_raw(b"glTF" + struct.pack("<II", 2, 999) + b"\0" * 8), "declares 999 bytes"),
        (_set("asset.version", "1.0"), "only 2.x"),
        (_set("extensionsRequired", ["KHR_draco_mesh_compression"]), "compressed geometry"),
        (_set("extensionsRequired", ["EXT_unknown"]), "requires glTF extensions"),
        (_set("accessors.0.count", 40), "need 480 bytes of a 48-byte"),
        (_set("accessors.1.componentType", 5126), "need .* bytes|NaN|out of range"),
        (_set("bufferViews.1.byteLength", 4), "need 12 bytes of a 4-byte"),
        (_set("meshes.0.primitives.0.indices", 7), r"accessors\[7\], which does not exist"),
        (
            _set("nodes", [{"mesh": 0, "children": [1]}, {"children": [2]}, {"children": [1]}]),
            "cycle",
        ),
        (_set("accessors.0.sparse", {"count": 1}), "sparse accessors"),
        (_set("nodes.0.rotation", [0, 0, 0, 0]), "not a rotation"),
        (_set("nodes.0.matrix", [1, 0, 0]), "16 finite numbers"),
        (_broken(_nan_position), "NaN"),
        (_outside, "escapes the scan's folder"),
    ],
)
def test_bad_files_are_refused_with_one_reason(tmp_path, make, reason):
    path = make(tmp_path)

    with pytest.raises(ScanError, match=reason) as error:
        read_mesh(path)
    assert "\n" not in str(error.value) and "UNEXPECTED" not in str(error.value)


def test_an_index_past_the_vertices_is_refused(tmp_path):
    document, blob = _square({}, [0, 1, 2, 2, 1, 9])
    (tmp_path / "bad.glb").write_bytes(_glb(document, blob))
    with pytest.raises(ScanError, match="index 9 out of range for 4 vertices"):
        read_gltf(tmp_path / "bad.glb")


def test_an_embedded_texture_above_the_limits_is_left_out_and_the_scan_kept(tmp_path):
    write_gltf_scan(tmp_path / "scan.glb", face_patch())
    mesh = read_mesh(tmp_path / "scan.glb", limits=ReadLimits(max_texture_pixels=15))

    assert mesh.texture_image is None and mesh.uv is None and mesh.n_vertices == 36
    assert any("4 x 4 pixels, above the limit of 15" in w for w in mesh.metadata["warnings"])


def test_the_texture_modality_paints_a_glb_with_its_embedded_texture(tmp_path):
    from facevlm.render.renderer import MultiviewRenderer, RenderSettings

    write_gltf_scan(tmp_path / "scan.glb", face_patch())
    settings = RenderSettings(size=32, modality="texture", pose="as_stored")
    with MultiviewRenderer(settings) as renderer:
        views = renderer.render(read_mesh(tmp_path / "scan.glb"))

    drawn = views[0][views[0].sum(axis=-1) > 0]  # the patch's pixels, not the background
    assert len(drawn) > 100 and (np.abs(drawn.astype(int) - TEXTURE_RGB) <= 2).all()


def test_counts_above_the_limits_are_refused_before_reading(tmp_path):
    write_gltf_scan(tmp_path / "scan.glb", face_patch())
    with pytest.raises(ScanError, match="above the limit of 10 .limits.max_vertices"):
        read_mesh(tmp_path / "scan.glb", limits=ReadLimits(max_vertices=10))


def test_a_head_exported_by_a_phone_app_is_posed_like_the_same_head_in_a_plain_file(tmp_path):
    """The reader's output is a surface the face pose can fit: the head placed by the file's
    nodes (metres, a quarter turn and a half turn) is found turned exactly that way."""
    from _posed_cases import ict_face

    from facevlm.render.face_pose import estimate_face_pose, rotation_angle_deg

    vertices, triangles, _ = ict_face(np.random.default_rng(5), "head")
    colours = np.random.default_rng(6).integers(0, 256, (len(vertices), 3)).astype(np.uint8)
    plain = FaceMesh.from_triangles(vertices, triangles, vertex_colors=colours)
    expected = write_gltf_scan(tmp_path / "head.glb", plain, parent_matrix=TO_METRES,
                               translation=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0))  # fmt: skip
    scan = read_mesh(tmp_path / "head.glb")
    turn = np.linalg.svd(expected["world"][:3, :3])  # the file's rotation, scale taken out
    turn = turn[0] @ turn[2]

    in_file, in_plain = estimate_face_pose(scan), estimate_face_pose(plain)
    assert rotation_angle_deg(in_file.rotation, turn @ in_plain.rotation) < 1.0
    assert in_file.radius == pytest.approx(in_plain.radius * 1e-3, rel=0.01)
    assert in_file.mm_per_unit == pytest.approx(1000.0, rel=0.05)


def test_a_glb_written_by_another_library_reads_back_as_it_was_written(tmp_path):
    """trimesh's glTF writer (its own buffer layout, uint32 indices, an embedded PNG, the scene
    transform as a node matrix): the same mesh, UVs, texture and colours come back."""
    import trimesh
    from _posed_cases import ict_face
    from PIL import Image

    vertices, triangles, _ = ict_face(np.random.default_rng(3), "full")
    uv = np.column_stack([vertices[:, 0] / 300 + 0.5, vertices[:, 1] / 300 + 0.5])
    texture = Image.new("RGB", (16, 16), (180, 120, 90))
    visual = trimesh.visual.TextureVisuals(
        uv=uv, material=trimesh.visual.material.PBRMaterial(baseColorTexture=texture)
    )
    scene = trimesh.Scene()
    turn = trimesh.transformations.rotation_matrix(np.pi / 3, [1, 0, 0])
    scene.add_geometry(
        trimesh.Trimesh(vertices / 1000.0, triangles, visual=visual, process=False), transform=turn
    )
    scene.export(tmp_path / "textured.glb")
    colours = np.tile([200, 100, 50, 255], (len(vertices), 1))
    plain = trimesh.Trimesh(vertices / 1000.0, triangles, vertex_colors=colours, process=False)
    plain.export(tmp_path / "coloured.glb")

    textured, coloured = read_mesh(tmp_path / "textured.glb"), read_mesh(tmp_path / "coloured.glb")
    expected = (vertices / 1000.0) @ turn[:3, :3].T
    assert textured.n_vertices == coloured.n_vertices == len(vertices)
    np.testing.assert_allclose(textured.vertices[textured.triangles()], expected[triangles],
                               atol=1e-7)  # fmt: skip
    np.testing.assert_allclose(textured.uv[textured.corner_uv_indices()].reshape(-1, 3, 2),
                               uv[triangles], atol=1e-6)  # fmt: skip
    assert (textured.texture_image == (180, 120, 90)).all()
    np.testing.assert_allclose(coloured.vertices[coloured.triangles()],
                               (vertices / 1000.0)[triangles], atol=1e-7)  # fmt: skip
    assert (coloured.vertex_colors == (200, 100, 50)).all()

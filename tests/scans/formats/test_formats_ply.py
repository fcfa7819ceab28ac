"""PLY, ascii and binary: round trips with mixed arities and face-varying UVs, and bad counts."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import read_mesh, read_ply, write_ply
from facevlm.scans.mesh import FaceMesh


def corner_uvs(mesh: FaceMesh) -> np.ndarray:
    return mesh.uv[mesh.corner_uv_indices()]


@pytest.mark.parametrize("binary", [True, False])
def test_round_trip_keeps_everything(tmp_path, seam_mesh, binary):
    seam_mesh.vertex_colors = (np.arange(30).reshape(10, 3) * 8).astype(np.uint8)
    seam_mesh.texture_path = tmp_path / "tex.png"
    (tmp_path / "tex.png").write_bytes(b"\x89PNG")
    write_ply(tmp_path / "m.ply", seam_mesh, binary=binary)
    back = read_ply(tmp_path / "m.ply")

    np.testing.assert_array_equal(back.vertices, seam_mesh.vertices)
    np.testing.assert_array_equal(back.polygon_offsets, seam_mesh.polygon_offsets)
    np.testing.assert_array_equal(back.polygon_indices, seam_mesh.polygon_indices)
    np.testing.assert_array_equal(corner_uvs(back), corner_uvs(seam_mesh))
    assert back.uv_indices is not None  # still face-varying
    assert len(back.uv) == len(seam_mesh.uv)  # one entry per distinct UV, as in the source
    np.testing.assert_array_equal(back.vertex_colors, seam_mesh.vertex_colors)
    assert back.texture_path == (tmp_path / "tex.png").resolve()
    assert back.metadata["encoding"] == ("binary" if binary else "ascii")


@pytest.mark.parametrize("binary", [True, False])
def test_round_trip_per_vertex_uvs_uniform_triangles(tmp_path, binary):
    rng = np.random.default_rng(0)
    mesh = FaceMesh.from_triangles(
        rng.normal(size=(5, 3)), [[0, 1, 2], [2, 3, 4], [0, 2, 4]], uv=rng.uniform(size=(5, 2))
    )
    write_ply(tmp_path / "m.ply", mesh, binary=binary)
    back = read_ply(tmp_path / "m.ply")

    assert back.uv_indices is None
    np.testing.assert_array_equal(back.uv, mesh.uv)
    np.testing.assert_array_equal(back.triangles(), mesh.triangles())


@pytest.mark.parametrize("names", [("s", "t"), ("u", "v"), ("texture_u", "texture_v")])
def test_uv_property_names(tmp_path, names):
    u, v = names
    text = (
        f"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        f"property float z\nproperty float {u}\nproperty float {v}\nelement face 1\n"
        "property list uchar int vertex_index\nend_header\n"
        "0 0 0 0 0\n1 0 0 1 0\n0 1 0 0 1\n3 0 1 2\n"
    )
    (tmp_path / "m.ply").write_text(text)

    np.testing.assert_array_equal(read_ply(tmp_path / "m.ply").uv, [[0, 0], [1, 0], [0, 1]])


def test_big_endian_with_extra_elements_and_properties(tmp_path):
    header = (
        b"ply\nformat binary_big_endian 1.0\ncomment made elsewhere\n"
        b"element vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
        b"property float nx\nelement face 1\nproperty uchar flags\n"
        b"property list uchar uint vertex_indices\nelement edge 1\nproperty int a\n"
        b"property int b\nend_header\n"
    )
    vertices = b"".join(struct.pack(">4f", *p) for p in [(0, 0, 0, 1), (1, 0, 0, 1), (0, 1, 0, 1)])
    body = vertices + struct.pack(">BB3I", 7, 3, 0, 1, 2) + struct.pack(">2i", 0, 1)
    (tmp_path / "m.ply").write_bytes(header + body)
    mesh = read_ply(tmp_path / "m.ply")

    np.testing.assert_array_equal(mesh.vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    assert mesh.polygon_indices.tolist() == [0, 1, 2]


def binary_header(n_vertices: int, n_faces: int) -> bytes:
    return (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {n_vertices}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {n_faces}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()


def test_huge_declared_count_fails_fast(tmp_path):
    path = tmp_path / "m.ply"
    path.write_bytes(binary_header(4_000_000_000, 1) + bytes(100))

    start = time.perf_counter()
    with pytest.raises(ScanError, match="above the limit") as info:
        read_ply(path)
    assert time.perf_counter() - start < 0.5
    assert info.value.path == path


def test_truncated_mixed_arity_faces(tmp_path):
    vertices = np.zeros((4, 3), "<f4").tobytes()
    faces = struct.pack("<B3i", 3, 0, 1, 2) + struct.pack("<B4i", 4, 0, 1, 2, 3)
    path = tmp_path / "m.ply"
    path.write_bytes(binary_header(4, 2) + vertices + faces[:-3])

    with pytest.raises(ScanError, match="truncated"):
        read_ply(path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("solid x\n", "magic"),
        ("ply\nformat ascii 1.0\nelement vertex 1\n", "end_header"),
        ("ply\nformat ascii 2.0 x\nend_header\n", "format"),
        ("ply\nformat ascii 1.0\nelement vertex 1\nproperty quad x\nend_header\n", "property"),
        ("ply\nformat ascii 1.0\nelement vertex -1\nend_header\n", "element"),
        (
            "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
            "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
            "0 0 0\n1 1 1\n3 0 1 2\n",
            "out of range",
        ),
        (
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
            "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n",
            "no face",
        ),
        (
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
            "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
            "0 0 0\n1 nan 0\n0 1 0\n3 0 1 2\n",
            "NaN",
        ),
        (
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
            "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
            "0 0 0\n1 0 0\n0 1 0\n3 0 1\n",
            "truncated",
        ),
    ],
)
def test_bad_files(tmp_path, text, reason):
    path = tmp_path / "m.ply"
    path.write_text(text)
    with pytest.raises(ScanError, match=reason) as info:
        read_ply(path)
    assert info.value.path == path


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("cloud.ply", "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float "
         "y\nproperty float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n"),
        ("cloud.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n"),
    ],
)  # fmt: skip
def test_a_point_cloud_is_refused_with_what_to_do(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(ScanError, match="3 points: a point cloud, not a surface: triangulate"):
        read_mesh(tmp_path / name)

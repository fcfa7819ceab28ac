"""Bosphorus ``.bnt``: the exact byte layout, upright grids, and the mesh made from the grid.

A corrupted header must fail fast: a count field asking for gigabytes is compared with the file
size before anything is allocated.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import BntScan, bnt_to_mesh, read_bnt, read_bnt_mesh, write_bnt

ZMIN = -1e9


def face_grids(rows: int = 6, cols: int = 5, background: np.ndarray | None = None) -> dict:
    """Upright grids of a bump: y grows upward (row 0 is the top), x grows to the right."""
    r, c = np.mgrid[0:rows, 0:cols].astype(float)
    x, y = c * 0.75 - 10.0, (rows - 1 - r) * 0.75 - 20.0
    z = 40.0 - 0.01 * (x**2 + y**2)
    u, v = c / (cols - 1), r / (rows - 1)  # v from the top, as in the texture image
    if background is not None:
        x, y, z = (np.where(background, ZMIN, g) for g in (x, y, z))
    return {"x": x, "y": y, "z": z, "u": u, "v": v}


def write(path: Path, grids: dict, name: str = "bs000_N_N_0.png") -> Path:
    write_bnt(path, zmin=ZMIN, image_name=name, **grids)
    return path


# ------------------------------------------------------------------------ layout
def test_round_trip_gives_the_upright_grids_back(tmp_path):
    grids = face_grids()
    scan = read_bnt(write(tmp_path / "s.bnt", grids))

    assert isinstance(scan, BntScan)
    assert (scan.nrows, scan.ncols, scan.zmin, scan.image_name) == (6, 5, ZMIN, "bs000_N_N_0.png")
    for name, grid in grids.items():
        np.testing.assert_array_equal(getattr(scan, name), grid)
    assert scan.foreground.all()


def test_bytes_on_disk_follow_the_specified_layout(tmp_path):
    grids = face_grids(rows=3, cols=2)
    data = write(tmp_path / "s.bnt", grids, name="ab.png").read_bytes()

    assert struct.unpack_from("<HHd", data, 0) == (3, 2, ZMIN)
    assert struct.unpack_from("<H", data, 12) == (6,)
    assert data[14:20] == b"ab.png"
    assert struct.unpack_from("<I", data, 20) == (5 * 3 * 2,)
    values = np.frombuffer(data, "<f8", offset=24)
    assert len(values) == 30  # then EOF
    planes = values.reshape(5, 3, 2)
    # On disk row 0 is the chin end: the bottom row of the upright grid.
    np.testing.assert_array_equal(planes[1][0], grids["y"][-1])
    np.testing.assert_array_equal(planes[3], grids["u"][::-1])


def test_reader_flips_a_chin_first_file_upright(tmp_path):
    rows, cols = 4, 3
    chin_first_y = np.repeat(np.arange(rows, dtype=float), cols)  # row 0 on disk: lowest y
    n = rows * cols
    payload = np.concatenate([np.zeros(n), chin_first_y, np.ones(n), np.zeros(n), np.zeros(n)])
    name = b"x.png"
    path = tmp_path / "x.bnt"
    path.write_bytes(
        struct.pack("<HHdH", rows, cols, ZMIN, len(name))
        + name
        + struct.pack("<I", 5 * n)
        + payload.astype("<f8").tobytes()
    )
    scan = read_bnt(path)

    assert scan.y[0, 0] == rows - 1  # top row of the upright grid is the forehead
    assert scan.y[-1, 0] == 0


# ------------------------------------------------------------------------ mesh
def test_mesh_counts_from_a_grid_with_background(tmp_path):
    background = np.zeros((4, 5), dtype=bool)
    background[0, 4] = True  # a corner point: removes the one cell that touches it
    background[2, 2] = True  # an inner point: removes the four cells around it
    scan = read_bnt(write(tmp_path / "s.bnt", face_grids(4, 5, background)))
    mesh = bnt_to_mesh(scan)

    assert scan.n_foreground == 4 * 5 - 2
    assert mesh.n_vertices == 18  # every foreground point is a vertex
    cells = (4 - 1) * (5 - 1) - 1 - 4
    assert mesh.n_polygons == 2 * cells == 14
    assert (mesh.arities == 3).all()


def test_mesh_is_upright_with_normals_toward_the_viewer(tmp_path):
    mesh = read_bnt_mesh(write(tmp_path / "s.bnt", face_grids()))
    tri = mesh.triangles()
    a, b, c = (mesh.vertices[tri[:, k]] for k in range(3))
    normals = np.cross(b - a, c - a)

    assert (normals[:, 2] > 0).all()
    assert mesh.vertices[0, 1] > mesh.vertices[-1, 1]  # first vertex from the top row


def test_mirrored_scanner_axis_still_gives_normals_toward_the_viewer(tmp_path):
    grids = face_grids()
    grids["x"] = -grids["x"]  # x decreasing along columns
    mesh = read_bnt_mesh(write(tmp_path / "s.bnt", grids))
    tri = mesh.triangles()
    a, b, c = (mesh.vertices[tri[:, k]] for k in range(3))

    assert (np.cross(b - a, c - a)[:, 2] > 0).all()


def test_mesh_uvs_count_v_from_the_bottom(tmp_path):
    grids = face_grids()
    mesh = read_bnt_mesh(write(tmp_path / "s.bnt", grids))

    assert mesh.uv_indices is None  # one UV per vertex
    np.testing.assert_allclose(mesh.uv[:, 0], grids["u"].ravel())
    np.testing.assert_allclose(mesh.uv[:, 1], 1.0 - grids["v"].ravel())
    assert mesh.uv[0, 1] == 1.0  # top row of the image is v = 1 in the mesh convention


def test_texture_is_the_png_beside_the_file(tmp_path):
    (tmp_path / "bs000_N_N_0.png").write_bytes(b"\x89PNG")
    mesh = read_bnt_mesh(write(tmp_path / "bs000_N_N_0.bnt", face_grids()))

    assert mesh.texture_path == (tmp_path / "bs000_N_N_0.png").resolve()


def test_missing_texture_is_a_warning(tmp_path):
    mesh = read_bnt_mesh(write(tmp_path / "s.bnt", face_grids()))

    assert mesh.texture_path is None
    assert mesh.metadata["warnings"]


def test_image_name_with_a_path_is_not_followed(tmp_path):
    (tmp_path / "secret.png").write_bytes(b"\x89PNG")
    sub = tmp_path / "scans"
    sub.mkdir()
    mesh = read_bnt_mesh(write(sub / "s.bnt", face_grids(), name="../secret.png"))

    assert mesh.texture_path is None


def test_all_background_is_an_empty_mesh(tmp_path):
    scan = read_bnt(write(tmp_path / "s.bnt", face_grids(background=np.ones((6, 5), bool))))
    with pytest.raises(ScanError, match="empty"):
        bnt_to_mesh(scan)


# ------------------------------------------------------------------------ bad files
def header(rows: int, cols: int, name: bytes, count: int) -> bytes:
    return struct.pack("<HHdH", rows, cols, ZMIN, len(name)) + name + struct.pack("<I", count)


def test_huge_count_fails_fast_without_allocating(tmp_path):
    path = tmp_path / "huge.bnt"
    path.write_bytes(header(60000, 60000, b"a.png", 0xFFFFFFFF) + bytes(800))

    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ScanError, match="truncated") as info:
        read_bnt(path)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert info.value.path == path
    assert elapsed < 0.5
    assert peak < 1_000_000  # 32 GiB were asked for; not even a megabyte was taken


def test_name_length_beyond_the_file(tmp_path):
    path = tmp_path / "name.bnt"
    path.write_bytes(struct.pack("<HHdH", 2, 2, ZMIN, 60000) + b"a.png")

    with pytest.raises(ScanError, match="name length"):
        read_bnt(path)


def test_count_that_does_not_match_the_grid(tmp_path):
    path = tmp_path / "count.bnt"
    path.write_bytes(header(2, 2, b"a.png", 19) + bytes(19 * 8))

    with pytest.raises(ScanError, match="5 x 2 x 2"):
        read_bnt(path)


def test_bytes_after_the_data(tmp_path):
    path = write(tmp_path / "s.bnt", face_grids())
    path.write_bytes(path.read_bytes() + b"\0")

    with pytest.raises(ScanError, match="after the data"):
        read_bnt(path)


@pytest.mark.parametrize("keep", [0, 5, 13, 17, 40])
def test_truncated_anywhere(tmp_path, keep):
    data = write(tmp_path / "s.bnt", face_grids()).read_bytes()
    path = tmp_path / "cut.bnt"
    path.write_bytes(data[:keep] if keep else b"")

    with pytest.raises(ScanError):
        read_bnt(path)


def test_nan_in_a_foreground_point(tmp_path):
    grids = face_grids()
    grids["z"][2, 2] = np.nan

    with pytest.raises(ScanError, match="NaN"):
        read_bnt(write(tmp_path / "s.bnt", grids))


def test_writer_rejects_grids_of_different_shapes(tmp_path):
    grids = face_grids()
    grids["u"] = grids["u"][:-1]
    with pytest.raises(ValueError):
        write(tmp_path / "s.bnt", grids)

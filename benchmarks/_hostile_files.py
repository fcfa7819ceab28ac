"""Hostile and degenerate inputs written in a few bytes: what a crafted or broken collection holds.

Each builder writes into a folder and returns the path to read. They are shared by the reader,
CLI and ingest tests, so that every case is checked the same way at every level, and by
``benchmarks/scan_formats.py hostile``, which times each refusal.

One copy serves the format tests and the benchmarks: it lives here, beside the scripts,
which run without the test tree, and ``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from facevlm.scans.formats import write_bnt, write_obj, write_vrml
from facevlm.scans.mesh import FaceMesh

#: A file outside any scan folder that a symlink can point at; never a scan or an image.
OUTSIDE_TARGET = "/etc/passwd"


def small_mesh() -> FaceMesh:
    """A 3 x 3 grid, 4 quads, per-vertex UVs: valid and textured."""
    grid = [(x, y) for y in range(3) for x in range(3)]
    xy = np.array(grid, dtype=float) * 20.0
    z = 50.0 - np.array([abs(x - 1) * 5.0 for x, _ in grid])
    polygons = [[0, 1, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [4, 5, 8, 7]]
    return FaceMesh.from_polygons(np.column_stack([xy, z]), polygons, uv=xy / 40.0)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width x height`` RGB pixels, with no pixel data: ~70 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def grid_bnt(path: Path, rows: int = 30, cols: int = 20, image_name: str = "x.png") -> Path:
    """A coherent range grid (x along rows, y down columns, a curved z), all foreground."""
    path.parent.mkdir(parents=True, exist_ok=True)
    r, c = np.mgrid[0:rows, 0:cols].astype(float)
    z = 40.0 - (c - cols / 2) ** 2 / 10.0 - (r - rows / 2) ** 2 / 20.0
    write_bnt(path, c * 1.5, -r * 1.5, z, c / cols, r / rows, zmin=-1e9, image_name=image_name)
    return path


def swap_bnt_header(source: Path, target: Path) -> Path:
    """``source`` with ``nrows``/``ncols`` swapped: the same product, so every size check passes."""
    data = bytearray(source.read_bytes())
    rows, cols = struct.unpack_from("<HH", data)
    struct.pack_into("<HH", data, 0, cols, rows)
    target.write_bytes(bytes(data))
    return target


def sparse_zero_bnt(path: Path, rows: int = 4000, cols: int = 4000) -> Path:
    """A 640 MB all-zero ``.bnt``: a valid header, then zeros (a sparse file, so it costs no
    disk space)."""
    name = b"big.png"
    n = rows * cols
    with open(path, "wb") as handle:
        handle.write(struct.pack("<HHdH", rows, cols, -1e9, len(name)) + name)
        handle.write(struct.pack("<I", 5 * n))
        handle.truncate(handle.tell() + 5 * n * 8)
    return path


def vrml_with_texture_link(folder: Path, target: str = OUTSIDE_TARGET) -> Path:
    """``scan.wrl`` whose ``url`` is ``tex.bmp``, a symlink to ``target``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan.wrl"
    write_vrml(path, small_mesh(), texture_url="tex.bmp")
    os.symlink(target, folder / "tex.bmp")
    return path


def obj_with_texture_link(folder: Path, target: str = OUTSIDE_TARGET) -> Path:
    """``scan.obj`` whose ``.mtl`` names ``tex.png`` in ``map_Kd``, a symlink to ``target``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan.obj"
    write_obj(path, small_mesh(), texture_filename="tex.png")
    os.symlink(target, folder / "tex.png")
    return path


def vrml_with_bomb_texture(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bomb.png").write_bytes(bomb_png())
    path = folder / "bomb.wrl"
    write_vrml(path, small_mesh(), texture_url="bomb.png")
    return path


def vrml_with_text(path: Path, old: str, new: str) -> Path:
    """A valid VRML scan with the first ``old`` replaced by ``new`` (must be present)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_vrml(path, small_mesh())
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


# ---------------------------------------------------------------------------------- new formats
def stl_declaring_billions(path: Path) -> Path:
    """A binary STL of 84 bytes whose header begins with ``solid`` and declares 4e9 facets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"solid huge".ljust(80, b"\0") + struct.pack("<I", 4_000_000_000))
    return path


def off_declaring_billions(path: Path) -> Path:
    """An OFF header declaring two billion vertices and faces, and nothing after it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("OFF\n2000000000 2000000000 0\n")
    return path


def vrml1_use_doubling(path: Path, levels: int = 60) -> Path:
    """VRML 1.0 where every level USEs the previous one twice: 2^60 face sets if expanded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["#VRML V1.0 ascii", "DEF L0 Separator { Coordinate3 { point [ 0 0 0, 9 0 0, 0 9 0 ] }"
             " IndexedFaceSet { coordIndex [ 0 1 2 ] } }"]  # fmt: skip
    lines += [f"DEF L{k} Separator {{ USE L{k - 1} USE L{k - 1} }}" for k in range(1, levels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def vrml1_deep_nesting(path: Path, depth: int = 100_000) -> Path:
    """VRML 1.0 of ``depth`` nested Separators (1.2 MB): a recursive reader overflows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#VRML V1.0 ascii\n" + "Separator { " * depth + "}" * depth + "\n")
    return path

"""Hostile files of the scanner and phone formats (glTF, OFF, PLY, VRML 1.0, STL), written in a
few bytes or generated at any size.

Each builder writes into a folder and returns the path to read. ``big=False`` gives a file of
at most a few hundred kB that is still refused with default limits (what the tests use);
``big=True`` the full-size file a fuzz run found costing gigabytes or minutes (what
``benchmarks/scan_formats.py hostile`` measures). :data:`REPROS` maps each case to its builder
and the words its one-line refusal must contain; the tests and the benchmark share it.

One copy serves the format tests and the benchmarks: it lives here, beside the scripts,
which run without the test tree, and ``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facevlm.scans.formats.limits import MAX_POLYGON_CORNERS

#: Corners of the one huge polygon: just above the per-polygon limit, or what the fuzz found.
_SMALL_POLYGON = MAX_POLYGON_CORNERS + 1


# ---------------------------------------------------------------------------------- glTF
def gltf_grid(side: int = 23) -> tuple[dict, bytes]:
    """A valid glTF document of a ``side x side`` grid of quads (``2 side^2`` triangles, 1,058 by
    default) and its binary buffer: accessor 0 the positions, accessor 1 the uint32 indices."""
    r, c = np.divmod(np.arange((side + 1) ** 2), side + 1)
    positions = np.column_stack([c * 2.0, r * 2.0, 50.0 - 0.05 * (c - side / 2) ** 2])
    quads = [
        (i * (side + 1) + j, (i + 1) * (side + 1) + j) for i in range(side) for j in range(side)
    ]
    triangles = [t for a, b in quads for t in ((a, b, a + 1), (a + 1, b, b + 1))]
    vertex_bytes = positions.astype("<f4").tobytes()
    index_bytes = np.asarray(triangles, dtype="<u4").tobytes()
    document = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "type": "VEC3", "count": len(positions)},
            {"bufferView": 1, "componentType": 5125, "type": "SCALAR", "count": 3 * len(triangles)},
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(vertex_bytes)},
            {"buffer": 0, "byteOffset": len(vertex_bytes), "byteLength": len(index_bytes)},
        ],
        "buffers": [{"byteLength": len(vertex_bytes) + len(index_bytes)}],
    }
    return document, vertex_bytes + index_bytes


def write_gltf(path: Path, document: dict, blob: bytes) -> Path:
    """``document`` as a ``.gltf`` with its buffer in a ``data:`` URI (one file), unless its
    buffer already names a ``uri``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = document["buffers"][0]
    if "uri" not in buffer:
        buffer["uri"] = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
    path.write_text(json.dumps(document))
    return path


def gltf_edited(edit: Callable[[dict], None], name: str = "scan.gltf"):
    """A builder: the grid's file after ``edit(document)``."""

    def build(folder: Path, big: bool = False) -> Path:
        document, blob = gltf_grid()
        edit(document)
        return write_gltf(folder / name, document, blob)

    return build


def _set_accessor(key: str, value) -> Callable[[dict], None]:
    return lambda document: document["accessors"][0].__setitem__(key, value)


def _doubling_chain(document: dict, levels: int = 31) -> None:
    """``levels`` nodes, each holding the next one twice: 2^(levels-1) paths to the mesh."""
    document["nodes"] = [{"children": [k + 1, k + 1]} for k in range(levels - 1)] + [{"mesh": 0}]


def _wide_root(document: dict, children: int = 20_000) -> None:
    """A root with ``children`` children sharing one mesh (a 0.4 MB file)."""
    document["nodes"] = [{"children": list(range(1, children + 1))}] + [{"mesh": 0}] * children


def _scene_repeats(document: dict, times: int = 5_000) -> None:
    document["scenes"] = [{"nodes": [0] * times}]


def _repeated_primitive(document: dict, copies: int = 10_000) -> None:
    document["meshes"][0]["primitives"] *= copies


def _node_matrix_digits(document: dict) -> None:
    document["nodes"][0]["matrix"] = [10**400] + [0] * 14 + [1]


def _buffer_outside(document: dict) -> None:
    document["buffers"][0]["uri"] = "../secret.bin"


def gltf_huge_integer(folder: Path, big: bool = False) -> Path:
    """A 5,000-digit integer in the JSON (in ``extras``, where anything may stand)."""
    document, blob = gltf_grid()
    path = write_gltf(folder / "scan.gltf", document, blob)
    text = path.read_text()
    path.write_text(text[:-1] + ', "extras": {"n": ' + "9" * 5_000 + "}}")
    return path


def gltf_buffer_outside(folder: Path, big: bool = False) -> Path:
    (folder / "secret.bin").parent.mkdir(parents=True, exist_ok=True)
    (folder / "secret.bin").write_bytes(b"\0" * 64)
    document, blob = gltf_grid()
    _buffer_outside(document)
    return write_gltf(folder / "scan" / "scan.gltf", document, blob)


# ---------------------------------------------------------------------------------- polygons
def off_huge_polygon(folder: Path, big: bool = False) -> Path:
    """An OFF triangle's three points and one face of 21 million corners (40 MB) going round
    them, or just above the per-polygon limit."""
    corners = 21_000_000 if big else _SMALL_POLYGON
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "poly.off"
    with open(path, "wb") as handle:
        handle.write(b"OFF\n3 1 0\n0 0 0\n10 0 0\n0 10 0\n" + str(corners).encode())
        _write_repeated(handle, b" 0 1 2", corners // 3)
        handle.write(b" 0 1 2"[: 2 * (corners % 3)] + b"\n")
    return path


def off_long_line(folder: Path, big: bool = False) -> Path:
    """An OFF whose one face line holds 60 million numbers (120 MB), or 4.1 million (8 MB)."""
    numbers = 60_000_000 if big else 4_100_000
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "long.off"
    with open(path, "wb") as handle:
        handle.write(b"OFF\n3 1 0\n0 0 0\n10 0 0\n0 10 0\n3 0 1 2")
        _write_repeated(handle, b" 0", numbers)
        handle.write(b"\n")
    return path


def ply_huge_polygon(folder: Path, big: bool = False) -> Path:
    """A binary PLY of three vertices and one face listing 50 million corners (200 MB)."""
    corners = 50_000_000 if big else _SMALL_POLYGON
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "poly.ply"
    header = (
        "ply\nformat binary_little_endian 1.0\nelement vertex 3\n"
        "property float x\nproperty float y\nproperty float z\n"
        "element face 1\nproperty list int int vertex_indices\nend_header\n"
    )
    with open(path, "wb") as handle:
        handle.write(header.encode())
        handle.write(np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], "<f4").tobytes())
        handle.write(struct.pack("<i", corners))
        _write_repeated(handle, np.array([0, 1, 2], "<i4").tobytes(), corners // 3)
        handle.write(np.array([0, 1, 2], "<i4").tobytes()[: 4 * (corners % 3)])
    return path


def vrml1_huge_polygon(folder: Path, big: bool = False) -> Path:
    """A VRML 1.0 ``coordIndex`` polygon of 15 million corners (30 MB)."""
    corners = 15_000_000 if big else _SMALL_POLYGON
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "poly.wrl"
    with open(path, "wb") as handle:
        handle.write(b"#VRML V1.0 ascii\nSeparator {\n Coordinate3 { point [ 0 0 0, 10 0 0, "
                     b"0 10 0 ] }\n IndexedFaceSet { coordIndex [ 0 1 2")  # fmt: skip
        _write_repeated(handle, b" 0 1 2", corners // 3 - 1)
        handle.write(b" 0 1 2"[: 2 * (corners % 3)] + b" -1 ] }\n}\n")
    return path


def vrml1_num_vertices(folder: Path, big: bool = False) -> Path:
    """A VRML 1.0 ``FaceSet { numVertices [ 400000000 ] }`` over three points."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "faceset.wrl"
    path.write_text(
        "#VRML V1.0 ascii\nSeparator {\n Coordinate3 { point [ 0 0 0, 10 0 0, 0 10 0 ] }\n"
        " FaceSet { numVertices [ 400000000 ] }\n}\n"
    )
    return path


def stl_solid_lines(folder: Path, big: bool = False) -> Path:
    """Lines starting ``solid`` with no carriage returns: 49 MB of them, or 110,000 (0.7 MB)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "solids.stl"
    lines = 49_000_000 // 6 if big else 110_000
    with open(path, "wb") as handle:
        _write_repeated(handle, b"solid\n", lines)
    return path


def _write_repeated(handle, unit: bytes, times: int, block: int = 1 << 20) -> None:
    """``unit * times`` written in blocks (never the whole file in memory)."""
    chunk = unit * block
    for _ in range(times // block):
        handle.write(chunk)
    handle.write(unit * (times % block))


#: case -> (builder(folder, big=False), a regular expression the one-line refusal matches)
REPROS: dict[str, tuple[Callable[..., Path], str]] = {
    "glTF componentType [5126]": (
        gltf_edited(_set_accessor("componentType", [5126])),
        r"invalid accessor 0 \(.*POSITION\): componentType must be an integer",
    ),
    'glTF type ["VEC3"]': (gltf_edited(_set_accessor("type", ["VEC3"])), "type must be a string"),
    "glTF extensionsRequired [[...]]": (
        gltf_edited(
            lambda d: d.__setitem__("extensionsRequired", [["KHR_draco_mesh_compression"]])
        ),
        "extensionsRequired must be a list of names",
    ),
    "glTF 31 nodes, each child twice (2^30 paths)": (
        gltf_edited(_doubling_chain),
        "nodes reached along many paths",
    ),
    "glTF root of 20,000 children, one mesh": (gltf_edited(_wide_root), "limits.max_polygons"),
    "glTF scene lists one node 5,000 times": (gltf_edited(_scene_repeats), "limits.max_polygons"),
    "glTF mesh of 10,000 copies of a primitive": (
        gltf_edited(_repeated_primitive),
        r"meshes\[0\] holds 10000 parts \(primitives\), above the 1000",
    ),
    "glTF normalized uint32 accessor": (
        gltf_edited(lambda d: d["accessors"][1].__setitem__("normalized", True)),
        "only 8- and 16-bit integers can be normalized",
    ),
    "glTF 400-digit integer in a node matrix": (
        gltf_edited(_node_matrix_digits),
        "matrix must be 16 finite numbers",
    ),
    "glTF 5,000-digit integer in the JSON": (gltf_huge_integer, "JSON does not parse"),
    "glTF buffer ../secret.bin": (gltf_buffer_outside, "buffer reference"),
    "OFF face of 21 million corners": (off_huge_polygon, "corners, above the|numbers on 1 face"),
    "OFF 60 million numbers on one line": (off_long_line, "numbers on 1 face lines"),
    "binary PLY face of 50 million corners": (ply_huge_polygon, "corners, above the"),
    "VRML 1.0 coordIndex of 15 million corners": (vrml1_huge_polygon, "corners, above the"),
    "VRML 1.0 FaceSet numVertices [400000000]": (vrml1_num_vertices, "400000000 corners"),
    "ASCII STL, 49 MB of 'solid' lines, LF only": (stl_solid_lines, "'solid' words"),
}

"""Files written the way scanners and mesh tools write them, by hand (struct and text), so that
the readers are checked against the formats themselves and not against our own writers.

Each writer takes a known mesh (:func:`face_patch`) and returns the expected vertices, polygons
and colours in the order the reader must produce them.

- :func:`write_laser_vrml1`: VRML 1.0 as laser-scanner software exports it (Cyberware, Minolta
  Vivid, older 3D face databases): header comment block, ``Info``, ``ShapeHints``, a camera,
  nested ``Separator`` nodes each with its own ``Coordinate3``, ``Normal`` + ``NormalBinding``,
  a ``Material``, ``Texture2`` + ``TextureCoordinate2`` with ``textureCoordIndex``, commas
  after every tuple, and the last polygon without its final ``-1``.
- :func:`write_binary_stl` / :func:`write_ascii_stl`: one record per triangle, every corner
  written out again (no shared vertices), an 80-byte header that may begin with ``solid``.
- :func:`write_off`: OFF / COFF with comments, a quad among the triangles, colours as 0..255
  integers or 0..1 floats with alpha.
- :func:`write_colour_ply`: PLY with per-vertex colours as depth cameras write them (binary
  little or big endian, ascii; uchar, ushort or float colours; ``diffuse_`` names; alpha).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from facevlm.scans.mesh import FaceMesh


def face_patch(side: int = 6) -> FaceMesh:
    """A ``side x side`` curved grid (mm) of quads, with irregular coordinates and colours.

    Coordinates are float32-exact (STL stores float32) and not round, so a reader that rounds
    or reorders is caught.
    """
    rng = np.random.default_rng(3)
    r, c = np.divmod(np.arange(side * side), side)
    x, y = (c - side / 2) * 11.37, (side / 2 - r) * 12.91
    z = 60.0 - 0.01 * (x**2 + y**2) + rng.normal(scale=0.3, size=x.shape)
    vertices = np.column_stack([x, y, z]).astype(np.float32).astype(np.float64)
    quads = [
        [i * side + j, (i + 1) * side + j, (i + 1) * side + j + 1, i * side + j + 1]
        for i in range(side - 1)
        for j in range(side - 1)
    ]
    colours = rng.integers(0, 256, size=(side * side, 3)).astype(np.uint8)
    return FaceMesh.from_polygons(vertices, quads, vertex_colors=colours)


def _triangles(mesh: FaceMesh) -> np.ndarray:
    return mesh.triangles()


# ---------------------------------------------------------------------------------- VRML 1.0
def _rows(values: np.ndarray, indent: str = "\t\t\t") -> str:
    return ",\n".join(indent + " ".join(f"{v:.6f}" for v in row) for row in values.tolist())


def _index_rows(polygons: list[list[int]], final_terminator: bool = True) -> str:
    text = ",\n".join("\t\t\t" + ", ".join(map(str, p)) + ", -1" for p in polygons)
    return text if final_terminator else text.removesuffix(", -1")


def write_laser_vrml1(path: Path, mesh: FaceMesh, texture: str | None = "face.jpg") -> dict:
    """Split ``mesh`` in two halves (rows of polygons), each in its own nested Separator with
    its own Coordinate3 (holding only the vertices it uses, renumbered), as scanner software
    that exports one patch per scan view does. Returns what the reader must produce."""
    polygons = [mesh.polygon_indices[a:b].tolist() for a, b in
                zip(mesh.polygon_offsets[:-1], mesh.polygon_offsets[1:], strict=True)]  # fmt: skip
    halves = [polygons[: len(polygons) // 2], polygons[len(polygons) // 2 :]]
    uv_all = mesh.vertices[:, :2] / 100.0 + 0.5
    parts, expected_vertices, expected_polygons, expected_uv = [], [], [], []
    for k, half in enumerate(halves):
        used = sorted({i for p in half for i in p})
        local = {v: n for n, v in enumerate(used)}
        local_polygons = [[local[i] for i in p] for p in half]
        # texture coordinates listed in reverse order, so textureCoordIndex differs from coordIndex
        uv = uv_all[used][::-1]
        uv_index = [[len(used) - 1 - i for i in p] for p in local_polygons]
        normals = np.tile([[0.0, 0.0, 1.0]], (len(used), 1))
        parts.append(
            f"\tSeparator {{\n"
            f'\t\tDEF Patch{k} Info {{ string "scan view {k}, {len(used)} points" }}\n'
            f"\t\tMaterial {{\n\t\t\tambientColor 0.2 0.2 0.2\n\t\t\tdiffuseColor 0.8 0.8 0.8\n"
            f"\t\t}}\n"
            + (f'\t\tTexture2 {{\n\t\t\tfilename "{texture}"\n\t\t}}\n' if texture else "")
            + f"\t\tCoordinate3 {{\n\t\t\tpoint [\n{_rows(mesh.vertices[used])}\n\t\t\t]\n\t\t}}\n"
            f"\t\tNormal {{\n\t\t\tvector [\n{_rows(normals)}\n\t\t\t]\n\t\t}}\n"
            f"\t\tNormalBinding {{ value PER_VERTEX_INDEXED }}\n"
            f"\t\tTextureCoordinate2 {{\n\t\t\tpoint [\n{_rows(uv)}\n\t\t\t]\n\t\t}}\n"
            f"\t\t# polygons of view {k}\n"
            f"\t\tIndexedFaceSet {{\n\t\t\tcoordIndex [\n"
            f"{_index_rows(local_polygons, final_terminator=k == 0)}\n\t\t\t]\n"
            f"\t\t\tnormalIndex [\n{_index_rows(local_polygons)}\n\t\t\t]\n"
            f"\t\t\ttextureCoordIndex [\n{_index_rows(uv_index)}\n\t\t\t]\n"
            f"\t\t}}\n\t}}\n"
        )
        base = sum(len(v) for v in expected_vertices)
        expected_vertices.append(np.round(mesh.vertices[used], 6))
        expected_polygons += [[base + i for i in p] for p in local_polygons]
        expected_uv.append(np.round(uv_all[used], 6))
    text = (
        "#VRML V1.0 ascii\n"
        "#\n# Cyberware-style export: laser range scan, units millimetres\n"
        "# Generated by the fixture writer of the facevlm tests\n#\n\n"
        "Separator {\n"
        '\tInfo { string "Scanner: laser range finder, 2 views" }\n'
        "\tShapeHints {\n\t\tvertexOrdering COUNTERCLOCKWISE\n\t\tshapeType UNKNOWN_SHAPE_TYPE\n"
        "\t\tcreaseAngle 0.5\n\t}\n"
        "\tDEF Front PerspectiveCamera {\n\t\tposition 0 0 600\n\t\tfocalDistance 600\n\t}\n"
        + "".join(parts)
        + "}\n"
    )
    path.write_text(text)
    return {
        "vertices": np.concatenate(expected_vertices),
        "polygons": expected_polygons,
        "uv": np.concatenate(expected_uv),
    }


# ---------------------------------------------------------------------------------- STL
def write_binary_stl(path: Path, mesh: FaceMesh, header: bytes = b"solid face scan") -> np.ndarray:
    """Binary STL (little endian): 80-byte header, uint32 count, 50-byte facet records with
    a zero attribute word. Returns the ``(F, 3, 3)`` corner coordinates written."""
    corners = mesh.vertices[_triangles(mesh)].astype(np.float32)
    edge1, edge2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    normals = np.cross(edge1, edge2)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    records = np.zeros(len(corners), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["n"], records["v"] = normals, corners
    path.write_bytes(header.ljust(80, b" ")[:80] + struct.pack("<I", len(corners)) +
                     records.tobytes())  # fmt: skip
    return corners.astype(np.float64)


def write_ascii_stl(path: Path, mesh: FaceMesh, name: str = "face scan") -> np.ndarray:
    """ASCII STL as CAD and scanning tools write it (indented, ``%e`` numbers, CRLF lines)."""
    corners = mesh.vertices[_triangles(mesh)].astype(np.float32).astype(np.float64)
    lines = [f"solid {name}"]
    for tri in corners.tolist():
        lines += ["  facet normal 0.000000e+00 0.000000e+00 1.000000e+00", "    outer loop"]
        lines += [f"      vertex {x:.9e} {y:.9e} {z:.9e}" for x, y, z in tri]
        lines += ["    endloop", "  endfacet"]
    lines.append(f"endsolid {name}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return corners


# ---------------------------------------------------------------------------------- OFF
def write_off(path: Path, mesh: FaceMesh, colours: str | None = None) -> None:
    """OFF with a comment block, a blank line and comments between sections; ``colours``:
    None (OFF), ``"uchar"`` (COFF, ``r g b a`` as 0..255) or ``"float"`` (COFF, 0..1)."""
    lines = ["COFF" if colours else "OFF", "# exported by a scanning tool", "# units: mm", ""]
    lines.append(f"{mesh.n_vertices} {mesh.n_polygons} 0")
    for k, (x, y, z) in enumerate(mesh.vertices.tolist()):
        row = f"{x!r} {y!r} {z!r}"
        if colours == "uchar":
            row += " " + " ".join(str(int(v)) for v in mesh.vertex_colors[k]) + " 255"
        elif colours == "float":
            row += " " + " ".join(repr(v / 255) for v in mesh.vertex_colors[k].tolist()) + " 1.0"
        lines.append(row)
    lines.append("# faces")
    for a, b in zip(mesh.polygon_offsets[:-1], mesh.polygon_offsets[1:], strict=True):
        corners = mesh.polygon_indices[a:b].tolist()
        lines.append(f"{len(corners)} " + " ".join(map(str, corners)))
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------- PLY
def write_colour_ply(
    path: Path,
    mesh: FaceMesh,
    encoding: str = "binary_little_endian",
    colour_type: str = "uchar",
    names: tuple[str, str, str] = ("red", "green", "blue"),
    alpha: bool = True,
) -> np.ndarray:
    """Triangle PLY with ``float x y z``, colours (uchar 0..255, ushort 0..65535 or float
    0..1) and optionally alpha, as depth-camera SDKs and MeshLab write it. Returns the colours
    the reader must produce."""
    order = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "<"}[encoding]
    scale = {"uchar": 1.0, "ushort": 257.0, "float": 1 / 255}[colour_type]
    ctype = {"uchar": "u1", "ushort": "u2", "float": "f4"}[colour_type]
    colours = mesh.vertex_colors.astype(np.float64) * scale
    channels = list(names) + (["alpha"] if alpha else [])
    header = [
        "ply", f"format {encoding} 1.0", "comment depth camera export",
        f"element vertex {mesh.n_vertices}",
        "property float x", "property float y", "property float z",
        *[f"property {colour_type} {n}" for n in channels],
        f"element face {len(_triangles(mesh))}",
        "property list uchar int vertex_indices", "end_header",
    ]  # fmt: skip
    dtype = [(k, order + "f4") for k in "xyz"] + [(n, order + ctype) for n in channels]
    records = np.zeros(mesh.n_vertices, dtype=dtype)
    for k, axis in enumerate("xyz"):
        records[axis] = mesh.vertices[:, k]
    for k, name in enumerate(names):
        records[name] = colours[:, k]
    if alpha:
        records["alpha"] = 255 * scale
    triangles = _triangles(mesh)
    if encoding == "ascii":
        rows = [" ".join(repr(v.item()) if isinstance(v, np.floating) else str(v)
                         for v in record) for record in records]  # fmt: skip
        rows += ["3 " + " ".join(map(str, t)) for t in triangles.tolist()]
        path.write_bytes(("\n".join(header) + "\n" + "\n".join(rows) + "\n").encode())
    else:
        faces = np.zeros(len(triangles), dtype=[("n", "u1"), ("i", order + "i4", 3)])
        faces["n"], faces["i"] = 3, triangles
        path.write_bytes(("\n".join(header) + "\n").encode() + records.tobytes() + faces.tobytes())
    return mesh.vertex_colors

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
- :func:`write_point_ply`: a depth camera's point cloud, points and colours without faces.
- :func:`write_gltf_scan`: glTF 2.0 as phone scanning apps export it (``.glb`` with its texture
  embedded, or ``.gltf`` with a ``.bin`` and the texture beside it): a node hierarchy, the mesh
  in parts with duplicated vertices, interleaved buffers, normalised colours, uint16 indices.

One copy serves the format tests and the benchmarks: it lives here, beside the scripts,
which run without the test tree, and ``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
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


def write_point_ply(path: Path, points: np.ndarray, colours: np.ndarray) -> None:
    """A binary PLY of points and colours and no face element, as depth-camera SDKs write it."""
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment depth camera capture\n"
        f"element vertex {len(points)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    records = np.zeros(len(points), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
    records["p"], records["c"] = points, colours
    path.write_bytes(header.encode() + records.tobytes())


# ---------------------------------------------------------------------------------- glTF
#: The colour of the texture a phone app's GLB embeds (a 4 x 4 PNG of one colour).
TEXTURE_RGB = (200, 30, 40)


def _png(rgb: tuple[int, int, int] = TEXTURE_RGB) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), rgb).save(out, format="PNG")
    return out.getvalue()


def gltf_parts(mesh: FaceMesh, split: bool = True) -> list[np.ndarray]:
    """The patch's triangles cut in two primitives (first and second half of its rows), each
    with its own copy of the vertices it uses, as an exporter writes a mesh in parts."""
    triangles = _triangles(mesh)
    halves = np.array_split(np.arange(len(triangles)), 2) if split else [np.arange(len(triangles))]
    return [triangles[half] for half in halves]


def write_gltf_scan(
    path: Path,
    mesh: FaceMesh,
    *,
    container: str = "glb",
    texture: str | None = None,
    parent_matrix: np.ndarray | None = None,
    translation=(12.5, -3.25, 7.0),
    rotation=(0.0, 0.38268343, 0.0, 0.92387953),
    scale=(1.5, 1.5, 1.5),
) -> dict:
    """A glTF 2.0 scan as phone scanning apps write it: a root node (``parent_matrix``,
    column-major in the file) holding a mesh node placed by translation, rotation (a quaternion,
    x y z w) and scale; the mesh in two primitives with their own vertex copies; positions and
    normals interleaved in one buffer view (byte stride 24), UVs and ``COLOR_0`` (normalised
    uchar RGBA) in views of their own, uint16 indices; a material whose base colour texture is
    embedded (``container="glb"``: one binary chunk) or a file named ``texture``
    (``container="gltf"``: the JSON, a ``.bin`` beside it).

    Returns what the reader must produce: ``corners`` (``(F, 3, 3)`` scene coordinates of each
    triangle's corners), ``colours`` per corner, ``uv`` per corner (v flipped, as FaceMesh keeps
    it), ``n_vertices`` after welding, and the mesh node's ``world`` transform (4 x 4)."""
    parent = np.eye(4) if parent_matrix is None else np.asarray(parent_matrix, float)
    from scipy.spatial.transform import Rotation

    turn = Rotation.from_quat(rotation).as_matrix()  # x y z w, normalised as a reader does
    local = np.eye(4)
    local[:3, :3], local[:3, 3] = turn @ np.diag(scale), translation
    world = parent @ local
    uv_all = np.column_stack([mesh.vertices[:, 0] / 100 + 0.5, mesh.vertices[:, 1] / 100 + 0.5])
    colours = mesh.vertex_colors
    blob, views, accessors, primitives = bytearray(), [], [], []

    def view(data: bytes, stride: int | None = None) -> int:
        while len(blob) % 4:
            blob.append(0)
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
        if stride:
            views[-1]["byteStride"] = stride
        blob.extend(data)
        return len(views) - 1

    def accessor(view_index, component, kind, count, offset=0, **extra) -> int:
        accessors.append({"bufferView": view_index, "byteOffset": offset,
                          "componentType": component, "type": kind, "count": count, **extra})  # fmt: skip
        return len(accessors) - 1

    expected_corners, expected_colours, expected_uv = [], [], []
    for part in gltf_parts(mesh):
        used = np.unique(part)
        local_index = np.searchsorted(used, part)
        interleaved = np.zeros(len(used), dtype=[("p", "<f4", 3), ("n", "<f4", 3)])
        interleaved["p"], interleaved["n"] = mesh.vertices[used], (0.0, 0.0, 1.0)
        rgba = np.column_stack([colours[used], np.full(len(used), 255)]).astype(np.uint8)
        shared = view(interleaved.tobytes(), stride=24)
        attributes = {
            "POSITION": accessor(shared, 5126, "VEC3", len(used),
                                 min=mesh.vertices[used].min(0).tolist(),
                                 max=mesh.vertices[used].max(0).tolist()),
            "NORMAL": accessor(shared, 5126, "VEC3", len(used), offset=12),
            "TEXCOORD_0": accessor(view(uv_all[used].astype("<f4").tobytes()), 5126, "VEC2",
                                   len(used)),
            "COLOR_0": accessor(view(rgba.tobytes()), 5121, "VEC4", len(used), normalized=True),
        }  # fmt: skip
        indices = accessor(view(local_index.astype("<u2").tobytes()), 5123, "SCALAR", part.size)
        primitives.append({"attributes": attributes, "indices": indices, "material": 0})
        points = mesh.vertices[part].astype(np.float32).astype(np.float64)
        expected_corners.append(points @ world[:3, :3].T + world[:3, 3])
        expected_colours.append(colours[part])
        uv = uv_all[part].astype(np.float32).astype(np.float64)
        expected_uv.append(np.stack([uv[..., 0], 1.0 - uv[..., 1]], axis=-1))
    if container == "glb":
        image = {"bufferView": view(_png()), "mimeType": "image/png"}
    else:
        image = {"uri": (texture or "texture.png").replace(" ", "%20")}
    document = {
        "asset": {"version": "2.0", "generator": "phone scanning app 4.2"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [
            {"name": "RootNode", "matrix": parent.T.ravel().tolist(), "children": [1]},
            {
                "name": "Scan",
                "mesh": 0,
                "translation": list(translation),
                "rotation": list(rotation),
                "scale": list(scale),
            },
        ],  # fmt: skip
        "meshes": [{"primitives": primitives}],
        "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}],
        "textures": [{"source": 0}],
        "images": [image],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob)}],
    }
    while len(blob) % 4:
        blob.append(0)
    if container == "glb":
        text = json.dumps(document).encode()
        text += b" " * (-len(text) % 4)
        body = struct.pack("<II", len(text), 0x4E4F534A) + text
        body += struct.pack("<II", len(blob), 0x004E4942) + bytes(blob)
        path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body)
    else:
        document["buffers"][0]["uri"] = path.with_suffix(".bin").name
        path.with_suffix(".bin").write_bytes(bytes(blob))
        path.write_text(json.dumps(document, indent=1))
    return {
        "corners": np.concatenate(expected_corners),
        "colours": np.concatenate(expected_colours),
        "uv": np.concatenate(expected_uv),
        "n_vertices": mesh.n_vertices,
        "world": world,
    }

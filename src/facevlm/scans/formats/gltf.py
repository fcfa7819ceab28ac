"""glTF 2.0 meshes (``.glb``, ``.gltf``), what phone and tablet scanning apps and many web
viewers export.

Why a reader of our own: VTK reads glTF, but splits the mesh at every texture and normal seam
(glTF stores one UV and one normal per vertex, so an exporter duplicates the vertices along a
seam) and reads outside the limits and path checks of the other readers; the libraries that
read glTF faithfully pull in a scene graph and its dependencies for what is, for a scan, a few
typed arrays. This reader:

- takes the default scene (or every root node when the file names none) and places each mesh
  by its node's transform, accumulated down the node hierarchy (``matrix``, or ``translation``,
  ``rotation`` and ``scale``);
- reads the triangles of every primitive (``TRIANGLES``, ``TRIANGLE_STRIP``, ``TRIANGLE_FAN``;
  points and lines are not a surface and are left out, with a warning);
- welds vertices whose positions are bit-for-bit equal, as :func:`~.stl.weld` does for STL: the
  duplicates an exporter wrote along seams become one vertex again, so the surface is connected
  (the face pose reads an open border at every unwelded seam) while each corner keeps the UV of
  its own copy (face-varying UVs, as BU-3DFE's files have);
- reads ``COLOR_0`` as per-vertex colours, and the base colour texture's coordinates with its
  image: a file beside the scan, or an image embedded in the file (as a GLB carries it), decoded
  within the read limits into ``texture_image`` (``texture_path`` is then the scan file).

Units are kept as written (glTF says metres; the face pose finds the units of any scan), and
glTF's axes (+y up, the front facing +z) are this project's. ``v`` of a texture coordinate is
flipped to the OpenGL convention of :class:`~facevlm.scans.mesh.FaceMesh`.

Refused with the reason: compressed geometry (Draco, meshopt: the message says to export without
it), any other extension a file *requires*, sparse accessors, everything
:mod:`._gltf_container` checks (sizes, byte ranges, the kind of every JSON value it reads), and
a node graph that is cyclic or places more than the limits allow (:mod:`._gltf_scene`, counted
before anything is placed).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope, reports_scan_errors, scope_for
from facevlm.scans.formats._gltf_container import (
    GLB_MAGIC,
    Document,
    data_uri,
    load_buffers,
    parse_glb,
    parse_json,
)
from facevlm.scans.formats._gltf_scene import (
    TRIANGLE_FAN,
    TRIANGLE_STRIP,
    TRIANGLES,
    max_indices,
    mesh_instances,
    mode_of,
    primitives_of,
)
from facevlm.scans.formats._textures import decode_embedded_texture, resolve_texture
from facevlm.scans.formats.stl import distinct_corners, weld
from facevlm.scans.mesh import FaceMesh

#: Extensions a file may require that change nothing this reader keeps (integer attributes are
#: read by any accessor; the others are how a material looks under light).
IGNORABLE_EXTENSIONS = frozenset(
    {"KHR_mesh_quantization", "KHR_materials_unlit", "KHR_materials_emissive_strength"}
)
#: Compressed geometry, refused with a way out rather than read.
COMPRESSION_EXTENSIONS = frozenset({"KHR_draco_mesh_compression", "EXT_meshopt_compression"})


@reports_scan_errors
def read_gltf(path: str | Path, *, scope: ReadScope | None = None) -> FaceMesh:
    """Read a ``.glb`` or ``.gltf`` scene's triangles into one welded FaceMesh.

    Raises:
        ScanError: not glTF 2.0, a required extension this reader does not read (compressed
            geometry among them), a reference to a part that does not exist, a byte range
            outside its buffer, counts above the limits, an index out of range, NaN
            coordinates, no triangles, or degenerate geometry.
    """
    path = Path(path)
    scope = scope_for(path, scope)
    data = scope.read_bytes(path)
    container = "glb" if data[:4] == GLB_MAGIC else "gltf"
    if container == "glb":
        document, binary = parse_glb(data, path)
    else:
        document, binary = parse_json(data, path), None
    _check_extensions(document, path)
    doc = Document(document, load_buffers(document, binary, path, scope), path)
    warnings: list[str] = []
    parts = [
        _primitive(doc, primitive, transform, f"meshes[{m}].primitives[{p}]", scope, warnings)
        for m, transform in mesh_instances(doc, scope.limits)
        for p, primitive in enumerate(primitives_of(doc, m))
    ]
    parts = [part for part in parts if part is not None]
    if not parts:
        raise ScanError(path, "no triangles: the scene holds no mesh with a surface")
    mesh = _assemble(parts, path, scope, warnings)
    mesh.metadata.update({"format": "gltf", "container": container, "warnings": warnings})
    return mesh.validate(path)


def _check_extensions(document: dict, path: Path) -> None:
    required = document.get("extensionsRequired", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise ScanError(path, "invalid glTF: extensionsRequired must be a list of names")
    compressed = [name for name in required if name in COMPRESSION_EXTENSIONS]
    if compressed:
        raise ScanError(
            path,
            f"compressed geometry ({compressed[0]}) is not read: export the scan without mesh "
            "compression, or as OBJ or PLY",
        )
    unknown = [name[:60] for name in required if name not in IGNORABLE_EXTENSIONS]
    if unknown:
        raise ScanError(path, f"the file requires glTF extensions not read here: {unknown[:3]}")


# ---------------------------------------------------------------------------- one primitive


def _primitive(doc, primitive, transform, label, scope, warnings):
    """``(positions, triangles, uv or None, colours or None, texture or None)`` of one
    primitive, its positions in the scene's frame; None for points and lines."""
    mode = mode_of(doc, primitive, label)
    if mode not in (TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN):
        warnings.append(f"{label}: mode {mode} (points or lines) left out")
        return None
    attributes = primitive.get("attributes")
    if not isinstance(attributes, dict) or "POSITION" not in attributes:
        raise ScanError(doc.path, f"{label} has no POSITION attribute")
    limits = scope.limits
    positions = doc.accessor(
        attributes["POSITION"], f"{label} POSITION", limits.max_vertices, "max_vertices"
    )
    if positions.shape[1] != 3:
        raise ScanError(doc.path, f"{label} POSITION is not VEC3")
    positions = positions @ transform[:3, :3].T + transform[:3, 3]
    if "indices" in primitive:
        indices = doc.accessor(
            primitive["indices"], f"{label} indices", max_indices(limits), "max_polygons"
        )
        if indices.shape[1] != 1:
            raise ScanError(doc.path, f"{label} indices are not SCALAR")
        indices = indices[:, 0].astype(np.int64)
    else:
        indices = np.arange(len(positions), dtype=np.int64)
    if len(indices) and (indices.min() < 0 or indices.max() >= len(positions)):
        raise ScanError(
            doc.path, f"{label}: index {int(indices.max())} out of range for {len(positions)} "
            "vertices",
        )  # fmt: skip
    triangles = _triangles(indices, mode)
    if np.linalg.det(transform[:3, :3]) < 0:  # a mirroring transform turns the winding over
        triangles = triangles[:, ::-1]
    uv, texture = _texture(doc, primitive, attributes, len(positions), label, scope, warnings)
    colours = None
    if "COLOR_0" in attributes:
        colours = _colours(doc, attributes["COLOR_0"], len(positions), label)
    return positions, triangles, uv, colours, texture


def _triangles(indices: np.ndarray, mode: int) -> np.ndarray:
    """``(F, 3)`` triangles of a primitive's index list in its ``mode``."""
    if mode == TRIANGLES:
        return indices[: len(indices) // 3 * 3].reshape(-1, 3)
    n = len(indices) - 2
    if n < 1:
        return np.zeros((0, 3), dtype=np.int64)
    if mode == TRIANGLE_FAN:
        return np.stack([np.full(n, indices[0]), indices[1:-1], indices[2:]], axis=1)
    # a strip alternates its winding: every other triangle is turned back
    first, second, third = indices[:n], indices[1 : n + 1], indices[2 : n + 2]
    odd = np.arange(n) % 2 == 1
    return np.stack([first, np.where(odd, third, second), np.where(odd, second, third)], axis=1)


def _counted(doc, index, n_vertices, label):
    values = doc.accessor(index, label, n_vertices, "max_vertices")
    if len(values) != n_vertices:
        raise ScanError(doc.path, f"{label}: {len(values)} values for {n_vertices} vertices")
    return values


def _colours(doc, index, n_vertices, label) -> np.ndarray:
    """``COLOR_0`` as uint8 RGB (floats and normalised integers are both in [0, 1])."""
    values = _counted(doc, index, n_vertices, f"{label} COLOR_0")
    if values.shape[1] not in (3, 4) or values.min() < 0 or values.max() > 1:
        raise ScanError(doc.path, f"{label} COLOR_0 is not RGB or RGBA in [0, 1]")
    return np.rint(values[:, :3] * 255).astype(np.uint8)


def _texture(doc, primitive, attributes, n_vertices, label, scope, warnings):
    """``(uv, texture)`` of the primitive's base colour texture (a file or an
    :class:`EmbeddedImage`), or ``(None, None)``."""
    if "material" not in primitive:
        return None, None
    material = doc.item("materials", primitive["material"], label)
    pbr = material.get("pbrMetallicRoughness", {})
    reference = pbr.get("baseColorTexture") if isinstance(pbr, dict) else None
    if not isinstance(reference, dict):
        return None, None
    channel = reference.get("texCoord", 0)
    if isinstance(channel, bool) or not isinstance(channel, int):
        raise ScanError(doc.path, f"invalid {label} material: texCoord must be an integer")
    key = f"TEXCOORD_{channel}"
    if key not in attributes:
        warnings.append(f"{label}: the texture's {key} is missing; texture left out")
        return None, None
    texture = doc.item("textures", reference.get("index"), f"{label} material")
    if "source" not in texture:
        return None, None
    image = doc.item("images", texture["source"], f"{label} texture")
    found = _image(doc, image, texture["source"], scope, warnings)
    if found is None:
        return None, None
    uv = _counted(doc, attributes[key], n_vertices, f"{label} {key}")
    if uv.shape[1] != 2:
        raise ScanError(doc.path, f"{label} {key} is not VEC2")
    return np.column_stack([uv[:, 0], 1.0 - uv[:, 1]]), found  # v from the bottom


@dataclass(eq=False)  # one object per image of a file (Document.images): compared by identity
class EmbeddedImage:
    """A texture the file holds itself, decoded: ``(H, W, 3)`` uint8, row 0 at the top."""

    index: int
    pixels: np.ndarray


def _image(
    doc: Document, image: dict, index: int, scope: ReadScope, warnings: list[str]
) -> Path | EmbeddedImage | None:
    """The base colour image: a file beside the scan (its resolved path), or one embedded in a
    buffer view or a ``data:`` URI; None, with a warning, when it cannot be used. Found once
    per image of the file, however many primitives use it."""
    if index not in doc.images:
        doc.images[index] = _find_image(doc, image, index, scope, warnings)
    return doc.images[index]


def _find_image(doc, image, index, scope, warnings) -> Path | EmbeddedImage | None:
    uri = image.get("uri")
    if isinstance(uri, str) and not uri.startswith("data:"):
        return resolve_texture(urllib.parse.unquote(uri), doc.path.parent, doc.path, warnings,
                               scope=scope)  # fmt: skip
    if isinstance(uri, str):
        data = data_uri(uri, doc.path, f"images[{index}]", scope.limits.max_texture_bytes)
    elif "bufferView" in image:
        data = doc.view_bytes(image["bufferView"], f"images[{index}]")
    else:
        raise ScanError(doc.path, f"images[{index}] has neither a uri nor a bufferView")
    pixels, problem = decode_embedded_texture(data, f"images[{index}]", scope.limits)
    if pixels is None:
        warnings.append(f"embedded {problem}; texture left out")
        return None
    return EmbeddedImage(index, pixels)


# ---------------------------------------------------------------------------- the mesh


def _assemble(parts, path: Path, scope: ReadScope, warnings: list[str]) -> FaceMesh:
    """One FaceMesh of every primitive: positions welded, UVs and colours kept per corner."""
    offsets = np.cumsum([0] + [len(part[0]) for part in parts])
    positions = np.concatenate([part[0] for part in parts])
    triangles = np.concatenate(
        [part[1] + offset for part, offset in zip(parts, offsets[:-1], strict=True)]
    )
    n_triangles = len(triangles)
    if n_triangles == 0:
        raise ScanError(path, "no triangles: every primitive is empty")
    if n_triangles > scope.limits.max_polygons:
        raise ScanError(
            path, f"{n_triangles} triangles, above the limit of {scope.limits.max_polygons} "
            "(limits.max_polygons)",
        )  # fmt: skip
    vertices, welded = weld(positions[triangles], path, scope.limits.max_vertices)
    distinct = distinct_corners(welded, path, warnings, "triangles")
    triangles, welded = triangles[distinct], welded[distinct]

    textures = {part[4] for part in parts if part[4] is not None}
    uv = uv_indices = texture = None
    if len(textures) > 1:
        warnings.append(f"{len(textures)} texture images; only one is used per scan: none kept")
    elif textures and all(part[2] is not None for part in parts):
        uv = np.concatenate([part[2] for part in parts])
        uv_indices, (texture,) = triangles.ravel(), textures
    elif textures:
        warnings.append("only part of the scan has texture coordinates: texture left out")
    colours = None
    if all(part[3] is not None for part in parts):
        original = np.concatenate([part[3] for part in parts])
        colours = np.zeros((len(vertices), 3), dtype=np.uint8)
        colours[welded.ravel()] = original[triangles.ravel()]
    mesh = FaceMesh.from_triangles(vertices, welded, source=path, vertex_colors=colours)
    if uv is not None and isinstance(texture, EmbeddedImage):  # the scan file holds it
        mesh.uv, mesh.uv_indices = uv, uv_indices
        mesh.texture_path = scope.locate(path, path, "scan")
        mesh.texture_image = texture.pixels
    elif uv is not None:
        mesh.uv, mesh.uv_indices, mesh.texture_path = uv, uv_indices, texture
    return mesh

"""VRML 1.0 face scans (``#VRML V1.0 ascii``), as laser scanners and older 3D face databases
wrote them.

Why a reader of our own: VTK's importer reads only VRML 2.0, and the general mesh libraries
that read VRML 1.0 at all split every polygon corner into its own point (as VTK does for VRML
2.0), losing the shared vertices that smooth shading and landmark indices rely on. This reader
keeps the file's vertices and polygons as written.

VRML 1.0 is not a tree of self-contained shapes like 2.0 but a sequence of nodes that change a
traversal state: a ``Coordinate3`` sets the points the following ``IndexedFaceSet`` nodes index,
``Texture2`` / ``TextureCoordinate2`` the texture and its coordinates, ``Material`` with a
``MaterialBinding`` the per-vertex colours, and transform nodes the placement; a ``Separator``
saves the state and restores it on exit. Scanner exports use this freely: several (nested)
Separators, one ``Coordinate3`` shared by several face sets, ``DEF``/``USE``, normals. The
reader walks the nodes the way a VRML 1.0 browser does, and concatenates every face set with its
indices shifted; a face set that reuses the same points under the same transform reuses the
same vertices, so connectivity across face sets is kept.

Kept: ``Coordinate3``, ``IndexedFaceSet`` and ``FaceSet``, ``TextureCoordinate2`` +
``Texture2`` (as UVs and the texture file, like the VRML 2.0 path), ``Material`` diffuse colours
bound ``PER_VERTEX`` or ``PER_VERTEX_INDEXED`` (as vertex colours), and the transforms
(``Transform``, ``MatrixTransform``, ``Translation``, ``Rotation``, ``Scale``), applied to the
coordinates. Ignored: normals and their binding (the renderer computes its own), ``ShapeHints``,
``Info``, cameras, lights and other nodes that do not change the surface; primitives (``Cube``,
``Sphere``...), lines and points are skipped with a warning, as is an inline ``Texture2`` image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import (
    ReadScope,
    gunzip_bounded,
    reports_scan_errors,
    scope_for,
)
from facevlm.scans.formats._numbers import parse_floats, parse_ints
from facevlm.scans.formats._textures import colours_stand_in, resolve_texture
from facevlm.scans.formats._vrml1_transforms import node_matrix
from facevlm.scans.formats._vrml1_tree import (
    Node,
    build_tree,
    field_string,
    field_value,
    field_word,
)
from facevlm.scans.formats._vrml_syntax import LEADING_SPACE, split_polygons, strip_comments
from facevlm.scans.formats.limits import check_polygon_corners, max_fan_triangles
from facevlm.scans.mesh import FaceMesh

HEADER = b"#VRML V1.0"

#: Nodes whose children are traversed; a Separator also saves and restores the state.
_SEPARATORS = frozenset({"Separator", "WWWAnchor", "<root>"})
_GROUPS = frozenset({"Group", "TransformSeparator", "Switch", "LOD"}) | _SEPARATORS
_TRANSFORMS = frozenset(
    {"Transform", "MatrixTransform", "Translation", "Rotation", "Scale", "ResetTransform"}
)
#: Nodes that draw something other than a polygon surface; noted, not read.
_NOT_SURFACES = frozenset(
    {"Cube", "Sphere", "Cone", "Cylinder", "IndexedLineSet", "PointSet", "AsciiText",
     "IndexedTriangleStripSet", "WWWInline"}
)  # fmt: skip


#: Node visits allowed per node in the file: USE may draw a part again (a mirrored half, a
#: repeated patch), but a chain of USEs that doubles at every level must not run for hours.
_MAX_VISITS_PER_NODE = 16


@dataclass(frozen=True)
class _State:
    """What a face set inherits from the nodes traversed before it."""

    matrix: np.ndarray
    coords: Node | None = None
    tex_coords: Node | None = None
    texture: Node | None = None
    material: Node | None = None
    binding: str = "OVERALL"


@dataclass
class _Piece:
    """One face set, its indices already global."""

    offsets: np.ndarray
    indices: np.ndarray
    uv_indices: np.ndarray | None
    colors: np.ndarray | None  # per corner, uint8
    texture: str | None


# ---------------------------------------------------------------------------------- reading
@reports_scan_errors
def read_vrml1(
    path: str | Path,
    *,
    texture_fallback: str | Path | None = None,
    scope: ReadScope | None = None,
) -> FaceMesh:
    """Read a VRML 1.0 scan into a :class:`FaceMesh` (``read_vrml`` comes here by the header).

    Args and texture handling as for :func:`~facevlm.scans.formats.vrml.read_vrml`.

    Raises:
        ScanError: not VRML 1.0, unbalanced braces, a face set before any ``Coordinate3``,
            bad numbers, indices out of range, NaN or absurd coordinates, no polygons, sizes
            above the limits, or a texture file name that escapes the folder.
    """
    path = Path(path)
    scope = scope_for(path, scope)
    data = gunzip_bounded(scope.read_bytes(path), scope.limits.max_scan_bytes, path)
    first = LEADING_SPACE.match(data, 3 if data.startswith(b"\xef\xbb\xbf") else 0).end()
    if not data.startswith(HEADER, first):
        raise ScanError(path, "not a VRML 1.0 file (no '#VRML V1.0' header)")
    end = data.find(b"\n", first)
    return parse_vrml1(data, len(data) if end < 0 else end + 1, path, scope, texture_fallback)


def parse_vrml1(
    data: bytes,
    start: int,
    path: Path,
    scope: ReadScope,
    texture_fallback: str | Path | None = None,
) -> FaceMesh:
    """The mesh of a VRML 1.0 file whose header line ends at ``start``."""
    body, start = strip_comments(data, start)
    root = build_tree(body, start, path, scope.limits.max_polygons)
    walk = _Walk(body, path, scope, max_visits=_MAX_VISITS_PER_NODE * root.n_nodes + 1_000)
    walk.visit(root, _State(np.eye(4)), depth=0)
    if not walk.pieces:
        raise ScanError(path, "VRML 1.0 file has no IndexedFaceSet with polygons")
    mesh = walk.mesh()
    if mesh.has_uv:
        fallbacks = [] if texture_fallback is None else [path.parent / Path(texture_fallback)]
        mesh.texture_path = resolve_texture(
            walk.texture, path.parent, path, walk.warnings, fallbacks, scope
        )
        colours_stand_in(mesh, walk.warnings)
    mesh.source = path
    mesh.metadata.update(
        {"format": "vrml1", "texture_url": walk.texture, "n_face_sets": len(walk.pieces),
         "warnings": walk.warnings}
    )  # fmt: skip
    return mesh.validate(path)


class _Walk:
    """Traverses the nodes like a VRML 1.0 browser, collecting every face set's geometry."""

    def __init__(self, body: bytes, path: Path, scope: ReadScope, max_visits: int):
        self.body, self.path, self.limits = body, path, scope.limits
        self.max_visits = max_visits
        self.pieces: list[_Piece] = []
        self.warnings: list[str] = []
        self.texture: str | None = None
        self._vertices: list[np.ndarray] = []
        self._uv: list[np.ndarray] = []
        self._vertex_start: dict[tuple, int] = {}  # (points node, transform) -> first vertex
        self._uv_start: dict[int, int] = {}
        self._parsed: dict[tuple[int, str], np.ndarray] = {}
        self._n_vertices = self._n_uv = self._n_corners = self._steps = 0
        self._n_fan_triangles = 0
        self._active: set[int] = set()

    # ------------------------------------------------------------------ traversal
    def visit(self, node: Node, state: _State, depth: int) -> _State:
        """Apply ``node`` to ``state``; return the state the next sibling sees."""
        self._steps += 1
        if self._steps > self.max_visits:
            raise ScanError(
                self.path,
                f"too many node visits ({self.max_visits}): USE references multiply the nodes",
            )
        if node.kind in _GROUPS:
            return self._group(node, state, depth)
        if node.kind == "Coordinate3":
            return replace(state, coords=node)
        if node.kind == "TextureCoordinate2":
            return replace(state, tex_coords=node)
        if node.kind == "Texture2":
            return replace(state, texture=node)
        if node.kind == "Material":
            return replace(state, material=node)
        if node.kind == "MaterialBinding":
            value = field_word(self.body, *node.span, b"value", self.path)
            return replace(state, binding=value or "DEFAULT")
        if node.kind in _TRANSFORMS:
            return replace(state, matrix=self._transform(node, state.matrix))
        if node.kind in ("IndexedFaceSet", "FaceSet"):
            self._face_set(node, state)
        elif node.kind in _NOT_SURFACES:
            self._note(f"{node.kind} nodes ignored (not a polygon surface)")
        return state

    def _group(self, node: Node, state: _State, depth: int) -> _State:
        if id(node) in self._active:
            raise ScanError(self.path, f"{node.kind} {node.name!r} USEs itself")
        self._active.add(id(node))
        children = node.children
        if node.kind == "Switch":
            which = field_value(self.body, node.open + 1, _first_child(node), b"whichChild",
                                self.path)  # fmt: skip
            chosen = -1 if which is None else int(parse_ints(which, self.path, "whichChild")[0])
            # -3 draws every child, -1 (the default) none, k >= 0 the k-th
            children = (
                children if chosen == -3 else children[chosen : chosen + 1] if chosen >= 0 else []
            )
        elif node.kind == "LOD":
            children = children[:1]  # the most detailed level
        inner = state
        for child in children:
            inner = self.visit(child, inner, depth + 1)
        self._active.discard(id(node))
        if node.kind in _SEPARATORS:
            return state
        if node.kind == "TransformSeparator":
            return replace(inner, matrix=state.matrix)
        return inner

    def _note(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)

    # ------------------------------------------------------------------ values
    def _numbers(self, node: Node, field: bytes, width: int, what: str, limit: int):
        """Field ``field`` of ``node`` as rows of ``width`` floats (parsed once per node)."""
        key = (id(node), field.decode())
        if key not in self._parsed:
            block = field_value(self.body, *node.span, field, self.path)
            values = parse_floats(block or b"", self.path, what, max_count=width * limit)
            if len(values) % width:
                raise ScanError(
                    self.path, f"{what} has {len(values)} numbers, not groups of {width}"
                )
            self._parsed[key] = values.reshape(-1, width)
        return self._parsed[key]

    def _indices(self, node: Node, field: bytes) -> np.ndarray | None:
        block = field_value(self.body, *node.span, field, self.path)
        if block is None:
            return None
        return parse_ints(block, self.path, field.decode(), max_count=8 * self.limits.max_polygons)

    def _transform(self, node: Node, matrix: np.ndarray) -> np.ndarray:
        if node.kind == "ResetTransform":
            return np.eye(4)
        return matrix @ node_matrix(node.kind, lambda name, n: self._sf(node, name, n))

    def _sf(self, node: Node, name: bytes, count: int) -> np.ndarray | None:
        block = field_value(self.body, *node.span, name, self.path)
        if block is None:
            return None
        values = parse_floats(block, self.path, f"{node.kind} {name.decode()}", max_count=count)
        if len(values) != count:
            raise ScanError(
                self.path, f"{node.kind} {name.decode()} has {len(values)} numbers, not {count}"
            )
        return values

    # ------------------------------------------------------------------ geometry
    def _face_set(self, node: Node, state: _State) -> None:
        if state.coords is None:
            raise ScanError(self.path, f"{node.kind} before any Coordinate3")
        points = self._numbers(
            state.coords, b"point", 3, "Coordinate3 point", self.limits.max_vertices
        )
        offsets, local = self._polygons(node, len(points))
        if len(offsets) == 1:
            return  # no polygons: nothing drawn (empty face sets occur between parts)
        base = self._add_vertices(state, points)
        uv_indices = self._uv_indices(node, state, offsets, local)
        colors = self._colors(node, state, offsets, local)
        texture = None
        if uv_indices is not None and state.texture is not None:
            texture = field_string(self.body, *state.texture.span, b"filename", self.path)
            texture = texture or None  # filename "" names no file
            if field_value(self.body, *state.texture.span, b"image", self.path) is not None:
                self._note("inline Texture2 image ignored (only a texture file is used)")
        self.pieces.append(
            _Piece(offsets + self._n_corners, local + base, uv_indices, colors, texture)
        )
        self._n_corners += len(local)
        if self._n_corners > 8 * self.limits.max_polygons:
            raise ScanError(self.path, "more polygon corners than the limits allow")

    def _polygons(self, node: Node, n_points: int) -> tuple[np.ndarray, np.ndarray]:
        if node.kind == "FaceSet":
            counts = self._indices(node, b"numVertices")
            start = self._indices(node, b"startIndex")
            first = 0 if start is None or not len(start) else int(start[0])
            if counts is None or (len(counts) == 1 and counts[0] == -1):
                counts = np.array([n_points - first])
            if (counts < 3).any() or first < 0:
                raise ScanError(self.path, "FaceSet numVertices below 3 or negative startIndex")
            self._check_corners(counts)
            if first + int(counts.sum()) > n_points:  # before a corner list is made
                raise ScanError(
                    self.path, f"FaceSet numVertices and startIndex use points {first} to "
                    f"{first + int(counts.sum()) - 1}; Coordinate3 has {n_points}",
                )  # fmt: skip
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            local = first + np.arange(offsets[-1], dtype=np.int64)
        else:
            tokens = self._indices(node, b"coordIndex")
            if tokens is None:
                raise ScanError(self.path, "IndexedFaceSet has no coordIndex")
            offsets, local = split_polygons(tokens, self.path, "coordIndex")
            self._check_corners(np.diff(offsets))
        if len(local) and local.max() >= n_points:
            raise ScanError(
                self.path,
                f"coordIndex {int(local.max())} out of range (Coordinate3 has {n_points} points)",
            )
        return offsets, local

    def _check_corners(self, arity: np.ndarray) -> None:
        """Refuse a face set whose polygons, with those read before, fan into more triangles
        than the limits allow (a face set USEd again counts again), before its corners are
        gathered."""
        check_polygon_corners(arity, self.limits, self.path)
        self._n_fan_triangles += int(arity.sum()) - 2 * len(arity)
        if self._n_fan_triangles > max_fan_triangles(self.limits):
            raise ScanError(
                self.path, f"the face sets fan into {self._n_fan_triangles} triangles or more, "
                f"above the limit of {max_fan_triangles(self.limits)} (2 x limits.max_polygons)",
            )  # fmt: skip

    def _add_vertices(self, state: _State, points: np.ndarray) -> int:
        """Index of the first of ``points`` (transformed) in the merged vertex list."""
        key = (id(state.coords), state.matrix.tobytes())
        if key not in self._vertex_start:
            self._vertex_start[key] = self._n_vertices
            if not np.array_equal(state.matrix, np.eye(4)):
                points = points @ state.matrix[:3, :3].T + state.matrix[:3, 3]
            self._vertices.append(points)
            self._n_vertices += len(points)
            if self._n_vertices > self.limits.max_vertices:
                raise ScanError(
                    self.path,
                    f"{self._n_vertices} vertices, above the limit of "
                    f"{self.limits.max_vertices} (limits.max_vertices)",
                )
        return self._vertex_start[key]

    def _uv_indices(self, node, state, offsets, local) -> np.ndarray | None:
        """Global UV index per corner: ``textureCoordIndex``, or the coordinate index when it
        is absent or ``-1`` (VRML 1.0's default binding of texture coordinates)."""
        if state.tex_coords is None:
            return None
        uv = self._numbers(
            state.tex_coords, b"point", 2, "TextureCoordinate2 point", self.limits.max_vertices
        )
        corner = local
        tokens = self._indices(node, b"textureCoordIndex") if node.kind != "FaceSet" else None
        if tokens is not None and not (len(tokens) <= 1 and (tokens == -1).all()):
            uv_offsets, corner = split_polygons(tokens, self.path, "textureCoordIndex")
            if not np.array_equal(uv_offsets, offsets):
                raise ScanError(
                    self.path, "textureCoordIndex does not have the polygon structure of coordIndex"
                )
        if len(corner) and corner.max() >= len(uv):
            raise ScanError(
                self.path,
                f"texture coordinate index {int(corner.max())} out of range "
                f"(TextureCoordinate2 has {len(uv)} points)",
            )
        if id(state.tex_coords) not in self._uv_start:
            self._uv_start[id(state.tex_coords)] = self._n_uv
            self._uv.append(uv)
            self._n_uv += len(uv)
        return corner + self._uv_start[id(state.tex_coords)]

    def _colors(self, node, state, offsets, local) -> np.ndarray | None:
        """Colour per corner from a Material bound per vertex; None for other bindings."""
        if state.material is None or state.binding not in ("PER_VERTEX", "PER_VERTEX_INDEXED"):
            return None
        diffuse = self._numbers(
            state.material, b"diffuseColor", 3, "Material diffuseColor", self.limits.max_vertices
        )
        if state.binding == "PER_VERTEX":
            corner = np.arange(len(local))
        else:
            tokens = self._indices(node, b"materialIndex")
            corner = local
            if tokens is not None and not (len(tokens) <= 1 and (tokens == -1).all()):
                material_offsets, corner = split_polygons(tokens, self.path, "materialIndex")
                if not np.array_equal(material_offsets, offsets):
                    raise ScanError(
                        self.path, "materialIndex does not have the polygon structure of coordIndex"
                    )
        if len(corner) and corner.max() >= len(diffuse):
            raise ScanError(
                self.path,
                f"material index {int(corner.max())} out of range "
                f"(Material has {len(diffuse)} diffuse colours)",
            )
        if diffuse.min(initial=0) < 0 or diffuse.max(initial=0) > 1:
            raise ScanError(self.path, "Material diffuseColor outside 0..1")
        return np.rint(diffuse[corner] * 255).astype(np.uint8)

    # ------------------------------------------------------------------ result
    def mesh(self) -> FaceMesh:
        pieces = self.pieces
        vertices = np.concatenate(self._vertices)
        offsets = np.concatenate([[0]] + [p.offsets[1:] for p in pieces]).astype(np.int64)
        indices = np.concatenate([p.indices for p in pieces])
        uv = uv_indices = colors = None
        with_uv = [p.uv_indices is not None for p in pieces]
        if all(with_uv):
            uv = np.concatenate(self._uv)
            uv_indices = np.concatenate([p.uv_indices for p in pieces])
            textures = list(dict.fromkeys(p.texture for p in pieces if p.texture is not None))
            self.texture = textures[0] if textures else None
            if len(textures) > 1:
                self._note(f"{len(textures)} different textures; only {self.texture!r} is used")
        elif any(with_uv):
            self._note("texture coordinates dropped: only some face sets have them")
        with_colors = [p.colors is not None for p in pieces]
        if all(with_colors):
            colors = np.full((len(vertices), 3), 200, dtype=np.uint8)  # unreferenced: grey
            colors[indices] = np.concatenate([p.colors for p in pieces])
        elif any(with_colors):
            self._note("vertex colours dropped: only some face sets have them")
        return FaceMesh(vertices, offsets, indices, uv=uv, uv_indices=uv_indices,
                        vertex_colors=colors)  # fmt: skip


def _first_child(node: Node) -> int:
    """Where a group's own fields end: at its first child's brace, or its own close."""
    return min([child.open for child in node.children if child.open > node.open] + [node.close])

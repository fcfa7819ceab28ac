"""The packed ICT-FaceKit morphable model (:class:`IctFaceModel`): loading the asset, a face's
vertices from identity and expression weights, its mesh cut to a region, and the parts of the
asset's vertex numbering (face, head and neck, eyeballs).

Separate because every user of ICT-FaceKit (the ICT heads, the pose template, the fixtures,
the benchmarks) needs the model, while only some paint it or pose an emotion on it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facevlm.scans.mesh import FaceMesh

ASSET = Path(__file__).parent.parent / "assets" / "ict_facekit_compact.npz"
#: How many identity modes the asset keeps.
N_IDENTITY_MODES = 40
#: Upstream centimetres to the project's millimetres.
MM_PER_UNIT = 10.0

#: Vertex counts of the asset's parts (asset indices): face area, then head and neck, then
#: the two eyeballs.
FULL_FACE_END = 9409  # upstream "full face area"
NARROW_FACE_END = 6706  # upstream "narrow face area": roughly what a face scanner captures
HEAD_END = 11248
#: Which asset vertices each crop keeps (eyeballs always: a scan shows the eyes' surface).
REGIONS = ("narrow_face", "face", "head")
#: Each eyeball is two nested shells, each a connected surface: the outer one (cornea and
#: sclera, the first 770 of the eyeball's 1570 vertices) hides the inner one.
EYEBALL_VERTICES = 1570
EYE_OUTER_SHELL_VERTICES = 770


@dataclass(frozen=True)
class IctFaceModel:
    """The packed morphable model: shapes as offsets from ``neutral`` (asset units, cm)."""

    neutral: np.ndarray  # (V, 3) float32
    identity: np.ndarray  # (I, V, 3) float16
    expression: np.ndarray  # (E, V, 3) float16
    expression_names: tuple[str, ...]
    polygons: np.ndarray  # (P, 4) int32: quads; a triangle repeats its last index
    landmarks: np.ndarray  # (68,) int: vertices of the 68 iBUG landmarks (upstream's order)
    uv: np.ndarray  # (T, 2) float32: texture coordinates in the packed atlas, v from the bottom
    polygon_uv: np.ndarray  # (P, 4) int32: per polygon corner, its index into ``uv``
    #: what depends on the topology only (the atlas' texels per size), worked out once
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: str | Path = ASSET) -> IctFaceModel:
        return _load(str(path))

    @property
    def n_identity_modes(self) -> int:
        return int(len(self.identity))

    def shape(
        self, identity_weights: np.ndarray | None = None, expression: Mapping[str, float] = {}
    ) -> np.ndarray:
        """``(V, 3)`` float64 vertices in millimetres of one face.

        ``identity_weights``: up to :attr:`n_identity_modes` weights (standard-normal draws);
        ``expression``: blend-shape name (``mouthSmile_L``) -> weight. An unknown name is an
        error rather than silently no motion.
        """
        points = self.neutral.astype(np.float64)
        if identity_weights is not None:
            weights = np.asarray(identity_weights, dtype=np.float64)
            if weights.ndim != 1 or len(weights) > self.n_identity_modes:
                raise ValueError(f"at most {self.n_identity_modes} identity weights")
            points = points + np.tensordot(weights, self.identity[: len(weights)], axes=1)
        for name, weight in expression.items():
            if name not in self.expression_names:
                raise ValueError(f"unknown ICT-FaceKit expression shape {name!r}")
            if weight:
                points = points + weight * self.expression[self.expression_names.index(name)]
        return points * MM_PER_UNIT

    def mesh(
        self,
        vertices: np.ndarray,
        region: str = "face",
        vertex_colours: np.ndarray | None = None,
        textured: bool = False,
    ) -> FaceMesh:
        """A triangle :class:`FaceMesh` of ``vertices`` cut to ``region``: ``narrow_face``
        (what a face scanner captures), ``face`` (forehead to chin, ear to ear) or ``head``
        (with the back of the head and the neck); the eyeballs are kept in every region.
        ``vertex_colours`` (``(V, 3)`` uint8, e.g. :func:`paint_vertex_colours`) are cut alike.

        ``textured``: also give the mesh face-varying UVs into the packed atlas (the image of
        :func:`paint_texture_atlas`), split into triangles exactly as the positions are and
        cut to the UVs the region uses; a vertex on a seam of the atlas has one UV per side.
        """
        keep = region_mask(len(self.neutral), region)
        polygons = keep[self.polygons].all(axis=1)
        triangles, uv_triangles = _split_quads(self.polygons[polygons], self.polygon_uv[polygons])
        new_index = np.cumsum(keep) - 1
        colours = None if vertex_colours is None else np.asarray(vertex_colours, np.uint8)[keep]
        uv = None
        if textured:
            used, uv_triangles = np.unique(uv_triangles, return_inverse=True)
            uv, uv_triangles = self.uv[used], uv_triangles.reshape(-1, 3)
        return FaceMesh.from_triangles(
            np.asarray(vertices)[keep],
            new_index[triangles],
            uv=uv,
            uv_triangles=uv_triangles if textured else None,
            vertex_colors=colours,
        )


def region_mask(n_vertices: int, region: str) -> np.ndarray:
    """``(n_vertices,)`` True for the asset vertices a scan of ``region`` shows: the face part
    and the outer shell of each eyeball (the inner shells lie behind it, where no scanner or
    camera sees, and would only double the eyes' vertices)."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    end = {"narrow_face": NARROW_FACE_END, "face": FULL_FACE_END, "head": HEAD_END}[region]
    keep = np.zeros(n_vertices, dtype=bool)
    keep[:end] = True
    eyes = np.arange(HEAD_END, n_vertices)
    keep[eyes] = (eyes - HEAD_END) % EYEBALL_VERTICES < EYE_OUTER_SHELL_VERTICES
    return keep


def quad_triangles(quads: np.ndarray) -> np.ndarray:
    """``(F, 3)`` int64 triangles of ICT-FaceKit's ``(P, 4)`` polygons: each quad split along
    its first diagonal, and the empty half of a triangle stored as a quad (its last index
    repeated) left out."""
    return _split_quads(quads, quads)[0]


def _split_quads(quads: np.ndarray, uv_quads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quad_triangles` of ``quads`` and the same split of the parallel ``uv_quads``:
    which halves are empty is decided by the vertex indices, so the triangle lists stay
    parallel."""
    quads = np.asarray(quads, dtype=np.int64)
    uv_quads = np.asarray(uv_quads, dtype=np.int64)
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    distinct = (
        (triangles[:, 0] != triangles[:, 1])
        & (triangles[:, 1] != triangles[:, 2])
        & (triangles[:, 0] != triangles[:, 2])
    )
    uv_triangles = np.concatenate([uv_quads[:, [0, 1, 2]], uv_quads[:, [0, 2, 3]]])
    return triangles[distinct], uv_triangles[distinct]


@functools.lru_cache(maxsize=2)
def _load(path: str) -> IctFaceModel:
    with np.load(path) as packed:
        return IctFaceModel(
            neutral=packed["neutral"],
            identity=packed["identity"],
            expression=packed["expression"],
            expression_names=tuple(str(n) for n in packed["expression_names"]),
            polygons=packed["faces"],
            landmarks=packed["landmarks"].astype(np.int64),
            uv=packed["uv"],
            polygon_uv=packed["face_uv"],
        )


def random_identity(rng: np.random.Generator, n_modes: int = N_IDENTITY_MODES) -> np.ndarray:
    """Identity weights as the upstream scripts draw them: independent standard normals."""
    return rng.standard_normal(n_modes)

"""Faces from ICT-FaceKit: a second face source, measured on real people rather than made by us.

Why a second source: every face of the built-in generator (:mod:`facevlm.data.synthetic.head`)
shares that generator's habits, and a model trained and tested on it can learn the habits
instead of the expressions. ICT-FaceKit (USC Institute for Creative Technologies, MIT licence:
``assets/ICT-FaceKit-LICENSE.txt``) is a morphable model built from light-stage scans of real
people: a face is

    neutral + sum_k a_k * identity_k + sum_j w_j * expression_j

with identity weights drawn from a standard normal (as the upstream scripts do) and expression
weights on ARKit-named blend shapes, which we drive from each emotion's FACS prototype.

The packed asset (``assets/ict_facekit_compact.npz``, 4.5 MB, made by :func:`derive_compact`
from the upstream ``ict_facekit_light.npz``) keeps what a face scanner sees: the face, head and
neck (upstream vertices 0-11247) and the eyeballs (21451-24590, so that the eyes are not holes);
the first 40 identity modes (the later ones move the surface by less than half a millimetre); the
39 expression shapes that facial action units need (no gaze, pupil or sideways jaw shapes), as
float16 offsets (0.01 mm steps at the largest offsets); and the texture coordinates of the kept
polygons, repacked into one square atlas (:data:`ATLAS_RECTS`). Units: millimetres after
:meth:`IctFaceModel.shape` (upstream centimetres), y up, the face looking along +z, as every
scan here.

A face is painted either per vertex (:func:`paint_vertex_colours`) or as a texture atlas
(:func:`paint_texture_atlas`) that a mesh with face-varying UVs (:meth:`IctFaceModel.mesh` with
``textured=True``) samples, so that an ICT face can be written exactly like a procedural one:
a VRML or OBJ mesh beside its texture image. Both paint the same face: one function paints
3D points with their normals, and the atlas is painted at the 3D point under each texel.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from facevlm.data.labels import BASIC_EMOTIONS, NEUTRAL
from facevlm.data.mesh import FaceMesh
from facevlm.render.arrays import area_weighted_normals

ASSET = Path(__file__).parent / "assets" / "ict_facekit_compact.npz"
#: Upstream vertex ranges kept in the asset: face, head and neck; left and right eyeballs.
KEPT_VERTICES = ((0, 11248), (21451, 24591))
#: Upstream polygon ranges of the same parts.
KEPT_POLYGONS = ((0, 11144), (21496, 24692))
#: How many identity modes the asset keeps.
N_IDENTITY_MODES = 40
#: Upstream shapes left out: gaze, pupils and sideways jaw or mouth moves are not expressions.
DROPPED_SHAPE_PREFIXES = (
    "Pupil",
    "eyeLook",
    "jawLeft",
    "jawRight",
    "jawForward",
    "mouthLeft",
    "mouthRight",
    "cheekPuff",
    "mouthClose",
)
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

#: Where each part's texture coordinates land in the packed atlas, as ``(u0, v0, u1, v1)``
#: (v from the bottom). Upstream, the UVs are tiles that overlap: the face in u 0-1, the back
#: of the head and neck in u 1-2, and all four eyeball shells across u 0-1 again, on top of
#: the face. One image needs every surface on texels of its own, so each tile is scaled into
#: its own rectangle (the face largest; the head tile squeezed, since it holds no features):
#:
#:     v 1 +--------------+------+
#:         |              |eye+x |   eye+x / eye-x: the eyeball at +x / -x,
#:         |     face     +------+   outer (visible) and inner (hidden) shell
#:         |  (u 0-1)     |eye-x |
#:         |              +------+
#:         |              |in +x |
#:    0.25 +--------------+------+
#:         | head (u 1-2) |in -x |
#:     v 0 +--------------+------+
#:         0            0.75     1
ATLAS_RECTS: dict[str, tuple[float, float, float, float]] = {
    "face": (0.0, 0.25, 0.75, 1.0),
    "head": (0.0, 0.0, 0.75, 0.25),
    "eye_px_outer": (0.75, 0.75, 1.0, 1.0),
    "eye_nx_outer": (0.75, 0.5, 1.0, 0.75),
    "eye_px_inner": (0.75, 0.25, 1.0, 0.5),
    "eye_nx_inner": (0.75, 0.0, 1.0, 0.25),
}
#: Gap kept between a tile and its rectangle's edge (UV units: 2 texels at 256 px), so that
#: bilinear sampling at a tile's border never reaches the next tile's paint.
ATLAS_MARGIN = 1.0 / 128.0

#: Each emotion's FACS prototype as ARKit blend shapes at full intensity (after EMFACS; AU6
#: cheek raiser = cheekSquint + cheekRaiser, AU12 = mouthSmile, AU15 = mouthFrown, AU17 =
#: mouthShrugLower, AU20 = mouthStretch, AU23/24 = mouthPress + mouthRollLower, AU9 =
#: noseSneer, AU10 = mouthUpperUp, AU1 = browInnerUp, AU2 = browOuterUp, AU4 = browDown, AU5 =
#: eyeWide, AU7 = eyeSquint, AU26 = jawOpen, AU25 = mouthLowerDown). A name without a side is
#: applied to both ``_L`` and ``_R`` shapes.
EMOTION_SHAPES: dict[str, dict[str, float]] = {
    "anger": {
        "browDown": 1.4,
        "eyeSquint": 1.0,
        "eyeWide": 0.3,
        "mouthPress": 1.0,
        "mouthRollLower": 0.4,
        "noseSneer": 0.3,
    },
    "disgust": {
        "noseSneer": 1.0,
        "mouthUpperUp": 0.9,
        "cheekSquint": 0.4,
        "mouthFrown": 0.4,
        "mouthShrugLower": 0.5,
        "browDown": 0.3,
    },
    "fear": {
        "browInnerUp": 1.0,
        "browOuterUp": 0.5,
        "browDown": 0.3,
        "eyeWide": 1.0,
        "mouthStretch": 0.9,
        "jawOpen": 0.25,
        "mouthLowerDown": 0.4,
    },
    "happiness": {
        "mouthSmile": 1.0,
        "cheekSquint": 0.8,
        "cheekRaiser": 0.6,
        "eyeSquint": 0.2,
        "jawOpen": 0.1,
        "mouthUpperUp": 0.2,
    },
    "sadness": {
        "browInnerUp": 0.9,
        "browDown": 0.3,
        "mouthFrown": 1.0,
        "mouthShrugLower": 0.6,
        "eyeBlink": 0.15,
    },
    "surprise": {
        "browInnerUp": 1.0,
        "browOuterUp": 1.0,
        "eyeWide": 0.9,
        "jawOpen": 0.55,
        "mouthFunnel": 0.15,
    },
}
#: Shapes a subject may leave out of the prototype, with the probability that they do.
OPTIONAL_SHAPES: dict[str, dict[str, float]] = {
    "anger": {"eyeWide": 0.5, "mouthRollLower": 0.4, "noseSneer": 0.5},
    "disgust": {"cheekSquint": 0.4, "mouthFrown": 0.4, "browDown": 0.5},
    "fear": {"browOuterUp": 0.3, "jawOpen": 0.4, "browDown": 0.5},
    "happiness": {"cheekRaiser": 0.3, "jawOpen": 0.5, "mouthUpperUp": 0.5},
    "sadness": {"browDown": 0.4, "mouthShrugLower": 0.3, "eyeBlink": 0.5},
    "surprise": {"mouthFunnel": 0.6},
}
#: The strongest weight a shape gets: a little beyond the artist's 1.0 (ICT's brow shapes move
#: the brows by under 5 mm at 1.0, less than a deliberate frown), not so far that it tears.
MAX_WEIGHT = 1.5
#: BU-3DFE's intensity levels 1-4 as a scale of the prototype (0 = neutral).
INTENSITY_SCALE: dict[int, float] = {0: 0.0, 1: 0.4, 2: 0.6, 3: 0.8, 4: 1.0}


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


def emotion_expression(emotion: str, intensity: int, rng: np.random.Generator) -> dict[str, float]:
    """Blend-shape weights of one subject's ``emotion`` at BU-3DFE ``intensity`` (1-4).

    Per-subject variation, so that no two subjects pose an emotion alike: optional shapes are
    left out with their probability, each shape's strength varies (log-normal, sd 0.25), and
    the left and right sides differ a little (sd 0.1). ``neutral`` gives no weights.
    """
    if emotion == NEUTRAL:
        return {}
    if emotion not in EMOTION_SHAPES:
        raise ValueError(f"emotion must be one of {(NEUTRAL, *BASIC_EMOTIONS)}, got {emotion!r}")
    scale = INTENSITY_SCALE[int(intensity)]
    weights: dict[str, float] = {}
    for shape, strength in EMOTION_SHAPES[emotion].items():
        if rng.random() < OPTIONAL_SHAPES[emotion].get(shape, 0.0):
            continue
        value = strength * scale * float(rng.lognormal(0.0, 0.25))
        for side in ("_L", "_R"):
            weights_name = f"{shape}{side}"
            sided = value * (1.0 + 0.1 * float(rng.standard_normal()))
            weights[weights_name] = float(np.clip(sided, 0.0, MAX_WEIGHT))
    return _unsided(weights)


def _unsided(weights: dict[str, float]) -> dict[str, float]:
    """Shapes with no sided version (``jawOpen``, ``mouthFunnel``) take the mean of the two."""
    names = set(IctFaceModel.load().expression_names)
    result: dict[str, float] = {}
    for name, value in weights.items():
        if name in names:
            result[name] = value
            continue
        plain = name[:-2]
        if plain not in names:
            raise ValueError(f"no ICT-FaceKit shape {name!r} or {plain!r}")
        result[plain] = result.get(plain, 0.0) + value / 2.0
    return result


def derive_compact(upstream: str | Path, target: str | Path) -> None:
    """Write the packed asset from the upstream ``ict_facekit_light.npz`` and the
    ``vertex_indices.json`` beside it (its 68 landmark vertices): how ASSET was made.

    The kept polygons' texture coordinates are repacked into one atlas
    (:func:`_atlas_uvs`) and renumbered to those the kept polygons use; float32, as upstream
    (float16 would move a UV by up to a quarter texel of a 1024-pixel atlas).
    """
    import json

    indices = json.loads((Path(upstream).parent / "vertex_indices.json").read_text())
    landmarks = np.asarray(indices["idx_to_landmark_verts"], dtype=np.int64)
    if landmarks.shape != (68,) or landmarks.max() >= NARROW_FACE_END:
        raise ValueError("expected 68 landmark vertices inside the narrow face area")
    with np.load(upstream) as source:
        names = [str(n) for n in source["expression_names"]]
        vertices = np.concatenate([np.arange(a, b) for a, b in KEPT_VERTICES])
        kept_polygons = np.concatenate([np.arange(a, b) for a, b in KEPT_POLYGONS])
        polygons = source["faces"][kept_polygons]
        remap = np.full(len(source["neutral"]), -1, dtype=np.int64)
        remap[vertices] = np.arange(len(vertices))
        if (remap[polygons] < 0).any():
            raise ValueError("a kept polygon uses a vertex outside the kept parts")
        uv, polygon_uv = _atlas_uvs(source["uv"], source["face_uv"][kept_polygons], remap[polygons])
        kept = [i for i, n in enumerate(names) if not n.startswith(DROPPED_SHAPE_PREFIXES)]
        np.savez_compressed(
            target,
            neutral=source["neutral"][vertices].astype(np.float32),
            identity=source["identity"][:N_IDENTITY_MODES][:, vertices].astype(np.float16),
            expression=source["expression"][kept][:, vertices].astype(np.float16),
            expression_names=np.array([names[i] for i in kept]),
            faces=remap[polygons].astype(np.int32),
            landmarks=landmarks.astype(np.int32),  # face vertices keep their upstream index
            uv=uv.astype(np.float32),
            face_uv=polygon_uv.astype(np.int32),
        )


def _atlas_uvs(
    uv: np.ndarray, polygon_uv: np.ndarray, polygons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Upstream ``uv`` and the kept polygons' ``polygon_uv`` (``(P, 4)``) as UVs of the packed
    atlas: each polygon's tile (face or head by its UV's whole part; an eyeball shell by its
    asset vertex indices ``polygons``) scaled into its :data:`ATLAS_RECTS` rectangle, less
    :data:`ATLAS_MARGIN`. A UV that two tiles share becomes one UV per tile; the UVs no kept
    polygon uses are dropped. Returns ``(T, 2)`` UVs and ``(P, 4)`` indices into them."""
    uv = np.asarray(uv, dtype=np.float64)
    corners = uv[polygon_uv]  # (P, 4, 2)
    tile = np.floor(corners[:, :, 0].mean(axis=1)).astype(np.int64)
    eyeball = polygons[:, 0] >= HEAD_END
    if (tile[~eyeball] < 0).any() or (tile[~eyeball] > 1).any():
        raise ValueError("a face or head polygon's UVs lie outside the tiles u 0-1 and 1-2")
    local = polygons[:, 0] - HEAD_END
    which_eye = local // EYEBALL_VERTICES  # 0: the first eyeball (+x), 1: the second
    inner = local % EYEBALL_VERTICES >= EYE_OUTER_SHELL_VERTICES
    shell_of_corner = (polygons - HEAD_END) % EYEBALL_VERTICES >= EYE_OUTER_SHELL_VERTICES
    if (shell_of_corner[eyeball] != inner[eyeball, None]).any():
        raise ValueError("an eyeball polygon joins its two shells")
    # group numbers follow ATLAS_RECTS: face, head, eye+x outer, eye-x outer, eye+x inner, ...
    names = list(ATLAS_RECTS)
    group = np.where(eyeball, 2 + which_eye + 2 * inner, tile)
    keys = group[:, None] * len(uv) + polygon_uv
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    key_group, key_uv = np.divmod(unique_keys, len(uv))
    packed = np.empty((len(unique_keys), 2))
    for g, name in enumerate(names):
        u0, v0, u1, v1 = ATLAS_RECTS[name]
        select = key_group == g
        origin = np.array([float(g == 1), 0.0])  # the head tile starts at u = 1
        local_uv = np.clip(uv[key_uv[select]] - origin, 0.0, 1.0)
        low = np.array([u0, v0]) + ATLAS_MARGIN
        high = np.array([u1, v1]) - ATLAS_MARGIN
        packed[select] = low + local_uv * (high - low)
    return packed, inverse.reshape(polygon_uv.shape)


#: Skin tones (RGB) a painted face is drawn from, light to dark.
SKIN_TONES = np.array(
    [[236, 200, 178], [224, 172, 140], [198, 140, 104], [160, 106, 74], [112, 72, 50]],
    dtype=np.float64,
)


#: Width (mm) of the soft edge of the lips and brows: a paint boundary, not a jagged step.
PAINT_EDGE = 1.5
#: Texture atlas sizes :func:`paint_texture_atlas` accepts.
MIN_ATLAS_SIZE, MAX_ATLAS_SIZE = 64, 4096


@dataclass(frozen=True)
class _Paint:
    """One subject's paint, drawn once and applied to any set of surface points: the same
    draws give the same face whether it is painted per vertex or per texel."""

    tone: np.ndarray  # (3,) RGB skin tone
    blotches: tuple[tuple[np.ndarray, float], ...]  # (unit direction, phase) per cosine
    brow_darkness: float  # brow colour as a fraction of the skin's
    light: np.ndarray  # (3,) unit direction toward the key light
    iris: np.ndarray  # (3,) RGB
    landmarks: np.ndarray  # (68, 3) mm, where the lips and brows are
    eye_front: tuple[float, float]  # z (mm) of the front of the eyeball at +x and at -x


def _draw_paint(model: IctFaceModel, vertices: np.ndarray, rng: np.random.Generator) -> _Paint:
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05, size=3)
    blotches = []
    for _ in range(3):
        direction = rng.standard_normal(3)
        blotches.append((direction / np.linalg.norm(direction), float(rng.uniform(0, 2 * np.pi))))
    brow_darkness = float(rng.uniform(0.35, 0.6))
    # the light of the capture, baked in as a photograph holds it: one soft key light from
    # above the camera, drawn per scan, and an ambient part
    light = np.array([rng.uniform(-0.4, 0.4), rng.uniform(0.1, 0.6), 1.0])
    iris = rng.uniform(30, 110) * np.array([1.0, 0.8, 0.6])
    eyes = vertices[HEAD_END:]
    return _Paint(
        tone=tone,
        blotches=tuple(blotches),
        brow_darkness=brow_darkness,
        light=light / np.linalg.norm(light),
        iris=iris,
        landmarks=vertices[model.landmarks],
        eye_front=(
            float(eyes[:EYEBALL_VERTICES, 2].max()),
            float(eyes[EYEBALL_VERTICES:, 2].max()),
        ),
    )


def _paint_points(
    paint: _Paint, points: np.ndarray, normals: np.ndarray, part: np.ndarray
) -> np.ndarray:
    """``(N, 3)`` float RGB of surface ``points`` (mm) with unit ``normals``; ``part`` says
    what each point is on: 0 skin, 1 the eyeball at +x, 2 the eyeball at -x.

    The paint is a function of where a point is in 3D, never of which vertex or texel holds
    it: skin in the subject's tone with slow blotches, redder lips round the lip landmarks,
    darker brows along the brow landmarks, white eyeballs whose front cap is the iris, and a
    key light from the point's normal.
    """
    colours = np.tile(paint.tone, (len(points), 1))
    # slow blotches: a few random cosines over the surface, +-6% brightness
    for direction, phase in paint.blotches:
        colours *= 1.0 + 0.02 * np.cos(points @ direction / 25.0 + phase)[:, None]
    skin = np.flatnonzero(part == 0)
    marks = paint.landmarks
    lips = _soft_near(points[skin], marks[48:60], 4.5, closed=True)[:, None]
    lip_colour = colours[skin] * [0.82, 0.55, 0.55] + [30, 5, 10]
    colours[skin] = colours[skin] * (1.0 - lips) + lip_colour * lips
    brows = np.maximum(
        _soft_near(points[skin], marks[17:22], 5.0), _soft_near(points[skin], marks[22:27], 5.0)
    )
    colours[skin] *= (1.0 - brows * (1.0 - paint.brow_darkness))[:, None]
    eyes = part > 0
    colours[eyes] = [235, 232, 225]
    lambert = np.clip(normals @ paint.light, 0.0, 1.0)
    colours *= (0.45 + 0.6 * lambert)[:, None]
    for eye, front in enumerate(paint.eye_front, start=1):
        on_eye = np.flatnonzero(part == eye)
        iris = points[on_eye, 2] > front - 2.5  # the front cap, toward +z
        colours[on_eye[iris]] = paint.iris
    return colours


def _vertex_parts(n_vertices: int) -> np.ndarray:
    """Per asset vertex, what :func:`_paint_points` calls its part (0 skin, 1 and 2 eyes)."""
    part = np.zeros(n_vertices, dtype=np.int64)
    part[HEAD_END : HEAD_END + EYEBALL_VERTICES] = 1
    part[HEAD_END + EYEBALL_VERTICES :] = 2
    return part


def paint_vertex_colours(
    model: IctFaceModel, vertices: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``(V, 3)`` uint8 per-vertex colours of a plain painted face: a skin tone, redder lips,
    darker brows, white eyeballs with a dark iris, and low-frequency blotches.

    Why a plain paint: the upstream model's textures are not part of the light release, and
    the point is a face of another source in the colours a model trained on textured scans
    expects, not a photograph (no pores, no make-up). Vertex colours suit sources that export
    colour per vertex (depth cameras, many scanners), which the ``texture`` modality renders;
    :func:`paint_texture_atlas` paints the same face, for the same ``rng`` state, as an image.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    paint = _draw_paint(model, vertices, rng)
    normals = area_weighted_normals(vertices, quad_triangles(model.polygons))
    colours = _paint_points(paint, vertices, normals, _vertex_parts(len(vertices)))
    return np.clip(colours, 0, 255).astype(np.uint8)


def paint_texture_atlas(
    model: IctFaceModel, vertices: np.ndarray, rng: np.random.Generator, size: int = 256
) -> np.ndarray:
    """``(size, size, 3)`` uint8 texture atlas (row 0 at the top = v 1) of the face with
    ``vertices``, for the UVs of :meth:`IctFaceModel.mesh` with ``textured=True``.

    The same face as :func:`paint_vertex_colours` paints for the same ``rng`` state, painted
    per texel: every texel inside a UV triangle takes the 3D point and the interpolated normal
    under it, and is painted there, so the paint does not depend on the atlas layout and a
    seam shows the same skin on both sides. Texels outside every triangle take the colour of
    the nearest painted texel, so that bilinear sampling and mipmaps at a seam blend skin with
    skin rather than with black.
    """
    size = int(size)
    if not MIN_ATLAS_SIZE <= size <= MAX_ATLAS_SIZE:
        raise ValueError(f"atlas size {size} not in {MIN_ATLAS_SIZE}..{MAX_ATLAS_SIZE}")
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.shape != model.neutral.shape:
        raise ValueError(f"vertices must be {model.neutral.shape}, got {vertices.shape}")
    paint = _draw_paint(model, vertices, rng)
    triangles, texel, triangle, weights, nearest = _atlas_texels(model, size)
    corners = triangles[triangle]  # (N, 3) vertices of the triangle under each texel
    points = np.einsum("nk,nkd->nd", weights, vertices[corners])
    vertex_normals = area_weighted_normals(vertices, triangles)
    normals = np.einsum("nk,nkd->nd", weights, vertex_normals[corners])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    part = _vertex_parts(len(vertices))[corners[:, 0]]
    colours = np.clip(_paint_points(paint, points, normals, part), 0, 255)

    image = np.zeros((size * size, 3))
    image[texel] = colours
    image = image.reshape(size, size, 3)[nearest[0], nearest[1]]
    return np.round(image).astype(np.uint8)


def _atlas_texels(model: IctFaceModel, size: int) -> tuple[np.ndarray, ...]:
    """What a ``size``-pixel atlas needs of the topology, worked out once per model and size
    (a subject's every scan repaints it): the triangles, the painted texels with the triangle
    and barycentric weights under each, and for every texel the painted texel nearest to it."""
    key = ("atlas", size)
    if key not in model.cache:
        triangles, uv_triangles = _split_quads(model.polygons, model.polygon_uv)
        texel, triangle, weights = _rasterise_uv(model.uv, uv_triangles, size)
        painted = np.zeros(size * size, dtype=bool)
        painted[texel] = True
        nearest = ndimage.distance_transform_edt(
            ~painted.reshape(size, size), return_distances=False, return_indices=True
        )
        model.cache[key] = (triangles, texel, triangle, weights, nearest)
    return model.cache[key]


def _rasterise_uv(
    uv: np.ndarray, uv_triangles: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texels of a ``size``-pixel square atlas whose centres lie inside a UV triangle.

    Returns the flat texel indices (row 0 at the top, v from the bottom), the triangle that
    covers each, and its ``(N, 3)`` barycentric weights. A texel on an edge shared by two
    triangles is given to the later one; both give the same point.
    """
    # texel (row r, column c) has its centre at x = c, y = r in these coordinates
    x = np.asarray(uv[:, 0], np.float64) * size - 0.5
    y = (1.0 - np.asarray(uv[:, 1], np.float64)) * size - 0.5
    tx, ty = x[uv_triangles], y[uv_triangles]  # (F, 3)
    c0 = np.maximum(np.ceil(tx.min(axis=1)), 0).astype(np.int64)
    c1 = np.minimum(np.floor(tx.max(axis=1)), size - 1).astype(np.int64)
    r0 = np.maximum(np.ceil(ty.min(axis=1)), 0).astype(np.int64)
    r1 = np.minimum(np.floor(ty.max(axis=1)), size - 1).astype(np.int64)
    width = np.maximum(c1 - c0 + 1, 0)
    count = width * np.maximum(r1 - r0 + 1, 0)
    triangle = np.repeat(np.arange(len(uv_triangles)), count)
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    col = c0[triangle] + offset % width[triangle]
    row = r0[triangle] + offset // width[triangle]
    ax, bx, cx = (tx[triangle, k] for k in range(3))
    ay, by, cy = (ty[triangle, k] for k in range(3))
    det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
    flat = np.abs(det) < 1e-12
    det = np.where(flat, 1.0, det)
    w0 = ((by - cy) * (col - cx) + (cx - bx) * (row - cy)) / det
    w1 = ((cy - ay) * (col - cx) + (ax - cx) * (row - cy)) / det
    w2 = 1.0 - w0 - w1
    eps = -1e-9
    inside = ~flat & (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
    texel = (row * size + col)[inside]
    weights = np.stack([w0, w1, w2], axis=1)[inside]
    triangle = triangle[inside]
    # one triangle per texel: the last one listed
    last = len(texel) - 1 - np.unique(texel[::-1], return_index=True)[1]
    return texel[last], triangle[last], np.clip(weights[last], 0.0, 1.0)


def _soft_near(
    points: np.ndarray, polyline: np.ndarray, radius: float, closed: bool = False
) -> np.ndarray:
    """How much each point is within ``radius`` mm of the polyline through ``polyline``'s
    points (``closed``: back to the first point, as round the lips): 1 inside, 0 outside,
    a linear ramp :data:`PAINT_EDGE` mm wide across the boundary."""
    weight = np.zeros(len(points))
    reach = radius + PAINT_EDGE / 2.0  # only points in the polyline's box so grown can count
    box = (points >= polyline.min(axis=0) - reach) & (points <= polyline.max(axis=0) + reach)
    near = np.flatnonzero(box.all(axis=1))
    starts = polyline if closed else polyline[:-1]
    ends = np.roll(polyline, -1, axis=0) if closed else polyline[1:]
    segment = ends - starts
    t = np.einsum("pkd,kd->pk", points[near, None, :] - starts[None], segment)
    t = np.clip(t / np.maximum(np.einsum("kd,kd->k", segment, segment), 1e-9), 0.0, 1.0)
    closest = starts[None] + t[..., None] * segment[None]
    distance = np.linalg.norm(points[near, None, :] - closest, axis=-1).min(axis=1)
    weight[near] = np.clip((radius - distance) / PAINT_EDGE + 0.5, 0.0, 1.0)
    return weight

"""Faces from ICT-FaceKit: a second face source, measured on real people rather than made by us.

Why a second source: every face of the built-in generator (:mod:`facevlm.data.synthetic.head`)
shares that generator's habits, and a model trained and tested on it can learn the habits
instead of the expressions. ICT-FaceKit (USC Institute for Creative Technologies, MIT licence:
``assets/ICT-FaceKit-LICENSE.txt``) is a morphable model built from light-stage scans of real
people: a face is

    neutral + sum_k a_k * identity_k + sum_j w_j * expression_j

with identity weights drawn from a standard normal (as the upstream scripts do) and expression
weights on ARKit-named blend shapes, which we drive from each emotion's FACS prototype.

The packed asset (``assets/ict_facekit_compact.npz``, 4.3 MB, made by :func:`derive_compact`
from the upstream ``ict_facekit_light.npz``) keeps what a face scanner sees: the face, head and
neck (upstream vertices 0-11247) and the eyeballs (21451-24590, so that the eyes are not holes);
the first 40 identity modes (the later ones move the surface by less than half a millimetre); the
39 expression shapes that facial action units need (no gaze, pupil or sideways jaw shapes), as
float16 offsets (0.01 mm steps at the largest offsets). Units: millimetres after
:meth:`IctFaceModel.shape` (upstream centimetres), y up, the face looking along +z, as every
scan here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    ) -> FaceMesh:
        """A triangle :class:`FaceMesh` of ``vertices`` cut to ``region``: ``narrow_face``
        (what a face scanner captures), ``face`` (forehead to chin, ear to ear) or ``head``
        (with the back of the head and the neck); the eyeballs are kept in every region.
        ``vertex_colours`` (``(V, 3)`` uint8, e.g. :func:`paint_vertex_colours`) are cut alike."""
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        end = {"narrow_face": NARROW_FACE_END, "face": FULL_FACE_END, "head": HEAD_END}[region]
        keep = np.zeros(len(self.neutral), dtype=bool)
        keep[:end] = True
        keep[HEAD_END:] = True  # eyeballs
        triangles = quad_triangles(self.polygons[keep[self.polygons].all(axis=1)])
        new_index = np.cumsum(keep) - 1
        colours = None if vertex_colours is None else np.asarray(vertex_colours, np.uint8)[keep]
        return FaceMesh.from_triangles(
            np.asarray(vertices)[keep], new_index[triangles], vertex_colors=colours
        )


def quad_triangles(quads: np.ndarray) -> np.ndarray:
    """``(F, 3)`` int64 triangles of ICT-FaceKit's ``(P, 4)`` polygons: each quad split along
    its first diagonal, and the empty half of a triangle stored as a quad (its last index
    repeated) left out."""
    quads = np.asarray(quads, dtype=np.int64)
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    distinct = (
        (triangles[:, 0] != triangles[:, 1])
        & (triangles[:, 1] != triangles[:, 2])
        & (triangles[:, 0] != triangles[:, 2])
    )
    return triangles[distinct]


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
    ``vertex_indices.json`` beside it (its 68 landmark vertices): how ASSET was made."""
    import json

    indices = json.loads((Path(upstream).parent / "vertex_indices.json").read_text())
    landmarks = np.asarray(indices["idx_to_landmark_verts"], dtype=np.int64)
    if landmarks.shape != (68,) or landmarks.max() >= NARROW_FACE_END:
        raise ValueError("expected 68 landmark vertices inside the narrow face area")
    with np.load(upstream) as source:
        names = [str(n) for n in source["expression_names"]]
        vertices = np.concatenate([np.arange(a, b) for a, b in KEPT_VERTICES])
        polygons = source["faces"][np.concatenate([np.arange(a, b) for a, b in KEPT_POLYGONS])]
        remap = np.full(len(source["neutral"]), -1, dtype=np.int64)
        remap[vertices] = np.arange(len(vertices))
        if (remap[polygons] < 0).any():
            raise ValueError("a kept polygon uses a vertex outside the kept parts")
        kept = [i for i, n in enumerate(names) if not n.startswith(DROPPED_SHAPE_PREFIXES)]
        np.savez_compressed(
            target,
            neutral=source["neutral"][vertices].astype(np.float32),
            identity=source["identity"][:N_IDENTITY_MODES][:, vertices].astype(np.float16),
            expression=source["expression"][kept][:, vertices].astype(np.float16),
            expression_names=np.array([names[i] for i in kept]),
            faces=remap[polygons].astype(np.int32),
            landmarks=landmarks.astype(np.int32),  # face vertices keep their upstream index
        )


#: Skin tones (RGB) a painted face is drawn from, light to dark.
SKIN_TONES = np.array(
    [[236, 200, 178], [224, 172, 140], [198, 140, 104], [160, 106, 74], [112, 72, 50]],
    dtype=np.float64,
)


def paint_vertex_colours(
    model: IctFaceModel, vertices: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``(V, 3)`` uint8 per-vertex colours of a plain painted face: a skin tone, redder lips,
    darker brows, white eyeballs with a dark iris, and low-frequency blotches.

    Why vertex colours and not a texture image: the upstream model's textures are not part of
    the light release, and depth cameras and many scanners export colour per vertex too, which
    the ``texture`` modality renders. The paint is deliberately plain (no pores, no make-up):
    the point is a face of another source in the colours a model trained on textured scans
    expects, not a photograph.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05, size=3)
    colours = np.tile(tone, (len(vertices), 1))
    marks = vertices[model.landmarks]
    # slow blotches: a few random cosines over the surface, +-6% brightness
    for _ in range(3):
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        colours *= 1.0 + 0.02 * np.cos(vertices @ direction / 25.0 + phase)[:, None]
    skin = vertices[:HEAD_END]
    lips = _near(skin, marks[48:60], 4.5, closed=True)
    colours[:HEAD_END][lips] = colours[:HEAD_END][lips] * [0.82, 0.55, 0.55] + [30, 5, 10]
    brows = _near(skin, marks[17:22], 5.0) | _near(skin, marks[22:27], 5.0)
    colours[:HEAD_END][brows] *= rng.uniform(0.35, 0.6)
    eyes = vertices[HEAD_END:]
    colours[HEAD_END:] = [235, 232, 225]
    # the light of the capture, baked in as a photograph holds it: one soft key light from
    # above the camera, drawn per scan, and an ambient part
    light = np.array([rng.uniform(-0.4, 0.4), rng.uniform(0.1, 0.6), 1.0])
    light /= np.linalg.norm(light)
    normals = area_weighted_normals(vertices, quad_triangles(model.polygons))
    lambert = np.clip(normals @ light, 0.0, 1.0)
    colours *= (0.45 + 0.6 * lambert)[:, None]
    half = len(eyes) // 2
    for eye in (slice(0, half), slice(half, None)):
        points = eyes[eye]
        front = points[:, 2] > points[:, 2].max() - 2.5  # the iris cap, toward +z
        colours[HEAD_END:][eye][front] = rng.uniform(30, 110) * np.array([1.0, 0.8, 0.6])
    return np.clip(colours, 0, 255).astype(np.uint8)


def _near(points: np.ndarray, polyline: np.ndarray, radius: float, closed: bool = False):
    """Points within ``radius`` mm of the polyline through ``polyline``'s points (``closed``:
    back to the first point, as round the lips)."""
    starts = polyline if closed else polyline[:-1]
    ends = np.roll(polyline, -1, axis=0) if closed else polyline[1:]
    segment = ends - starts
    t = np.einsum("pkd,kd->pk", points[:, None, :] - starts[None], segment)
    t = np.clip(t / np.maximum(np.einsum("kd,kd->k", segment, segment), 1e-9), 0.0, 1.0)
    closest = starts[None] + t[..., None] * segment[None]
    return (np.linalg.norm(points[:, None, :] - closest, axis=-1) < radius).any(axis=1)

"""An ICT-FaceKit subject, in the shape the dataset writers expect of a head.

Why an adapter rather than a second set of writers: a layout's files (names, folders, landmarks,
sequences, label files) do not depend on where the face came from, so the writers of
:mod:`facevlm.synthetic.layout_writers` stay the same and ask the subject's head for its neutral
mesh, the offsets of an expression and its texture. :class:`IctHead` answers those questions for
a face of the ICT-FaceKit morphable model (:mod:`.model`), as
:class:`~facevlm.synthetic.procedural.head.SyntheticHead` does for a procedural one. The subject's
metadata, the landmark convention and the photographs' exposure are the procedural source's
(:mod:`facevlm.synthetic.procedural`), so that both sources' files read alike.

Why expressions as action units: the emotion recipes, their per-subject variants, the 4D profiles
and the micro-expression clips are all written in FACS action units
(:mod:`facevlm.synthetic.expressions`), and
the pretraining captions describe scans by the units recorded in the manifest. Driving the ICT
blend shapes from the same units (:data:`~facevlm.expression_bank.facs.AU_SHAPES`, the one FACS
to ARKit mapping, which the expression bank maps coded expressions through too) gives both face
sources one expression grammar, so the only thing that differs between them is the face.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from facevlm.expression_bank.facs import AU_SHAPES
from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.face_openings import EYE_SURFACE_KEY
from facevlm.synthetic.ict_facekit.model import (
    FULL_FACE_END,
    HEAD_END,
    MM_PER_UNIT,
    NARROW_FACE_END,
    IctFaceModel,
    random_identity,
    region_mask,
)
from facevlm.synthetic.ict_facekit.paint import paint_texture_atlas
from facevlm.synthetic.procedural.identity import Identity
from facevlm.synthetic.procedural.landmarks import BOSPHORUS_LABELS, N_LANDMARKS
from facevlm.synthetic.procedural.texture import developed, exposure

#: The strongest weight a blend shape gets once the units are summed: a little beyond the
#: artist's 1.0 (the brow shapes move the brows by under 5 mm at 1.0), not so far that the
#: surface tears.
MAX_SHAPE_WEIGHT = 1.5
#: Which crop of the model a scan shows, per region: where the asset's face vertices end.
REGION_ENDS: dict[str, int] = {
    "narrow_face": NARROW_FACE_END,
    "face": FULL_FACE_END,
    "head": HEAD_END,
}
#: iBUG-68 landmark numbers of the Bosphorus labels the model places directly; the nose saddles
#: lie between the inner eye corners and the top of the nose bridge (27).
_BOSPHORUS_IBUG: dict[str, int | tuple[int, int]] = {
    "Outer left eyebrow": 17,
    "Middle left eyebrow": 19,
    "Inner left eyebrow": 21,
    "Inner right eyebrow": 22,
    "Middle right eyebrow": 24,
    "Outer right eyebrow": 26,
    "Outer left eye corner": 36,
    "Inner left eye corner": 39,
    "Inner right eye corner": 42,
    "Outer right eye corner": 45,
    "Nose saddle left": (39, 27),
    "Nose saddle right": (42, 27),
    "Left nose peak": 31,
    "Nose tip": 30,
    "Right nose peak": 35,
    "Left mouth corner": 48,
    "Upper lip outer middle": 51,
    "Right mouth corner": 54,
    "Upper lip inner middle": 62,
    "Lower lip inner middle": 66,
    "Lower lip outer middle": 57,
    "Chin middle": 8,
}


@dataclass
class IctHead:
    """A neutral ICT-FaceKit face with what the writers need, like the procedural
    :class:`~facevlm.synthetic.procedural.head.SyntheticHead`.

    Attributes:
        identity: the subject's recorded metadata (gender, age, ethnicity code), drawn as for a
            procedural subject; the face itself comes from ``identity_weights``.
        identity_weights: the morphable model's identity weights.
        region: which crop the scans show (:data:`REGIONS`).
        mesh: the neutral face cut to ``region``, with face-varying UVs and the 83 BU-3DFE
            landmarks.
        keep: ``(V,)`` asset vertex index of each mesh vertex.
        landmark_indices: ``(83,)`` mesh vertex of each BU-3DFE landmark.
        paint_seed: seed of the subject's painted skin (the same skin on every scan).
    """

    identity: Identity
    identity_weights: np.ndarray
    region: str
    mesh: FaceMesh
    keep: np.ndarray
    landmark_indices: np.ndarray
    paint_seed: int
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def model(self) -> IctFaceModel:
        return IctFaceModel.load()

    @property
    def neutral_full(self) -> np.ndarray:
        """``(V_asset, 3)`` the subject's neutral face over every asset vertex (mm)."""
        if "neutral" not in self.cache:
            self.cache["neutral"] = self.model.shape(self.identity_weights)
        return self.cache["neutral"]

    def with_vertices(self, vertices: np.ndarray) -> FaceMesh:
        """A copy of the neutral mesh with other vertex positions (same topology and UVs)."""
        vertices = np.asarray(vertices, dtype=np.float64)
        return dataclasses.replace(
            self.mesh,
            vertices=vertices,
            landmarks=vertices[self.landmark_indices],
            # landmarks are vertices: a writer that rounds the vertices keeps them on them
            metadata={**self.mesh.metadata, "landmark_indices": self.landmark_indices},
        )

    def shape_weights(self, activation: Mapping[int, float | tuple[float, float]]) -> dict:
        """Blend-shape weights of an action-unit ``activation`` (AU -> weight, or AU ->
        (image-left, image-right) weights): each unit's shapes summed, clipped to
        :data:`MAX_SHAPE_WEIGHT`. Image left is the subject's right, the ARKit ``_R`` shapes."""
        names = set(self.model.expression_names)
        weights: dict[str, float] = {}
        for au, weight in activation.items():
            if int(au) not in AU_SHAPES:
                raise KeyError(f"action unit {au} has no ICT-FaceKit shapes")
            left, right = (weight, weight) if np.isscalar(weight) else weight
            for shape, gain in AU_SHAPES[int(au)].items():
                if shape in names:  # a shape with no sides takes the mean of the two
                    weights[shape] = weights.get(shape, 0.0) + gain * (left + right) / 2.0
                    continue
                for side, value in (("_R", left), ("_L", right)):
                    weights[shape + side] = weights.get(shape + side, 0.0) + gain * value
        return {name: float(np.clip(w, 0.0, MAX_SHAPE_WEIGHT)) for name, w in weights.items()}

    def expressed_full(self, activation: Mapping) -> np.ndarray:
        """``(V_asset, 3)`` the subject's face over every asset vertex showing ``activation``
        (the last one is kept: a scan asks for its geometry and then for its photograph)."""
        expression = self.shape_weights(activation)
        key = tuple(sorted(expression.items()))
        if self.cache.get("expressed_key") != key:
            model = self.model
            points = self.neutral_full.copy()
            for name, weight in expression.items():
                if weight:
                    shape = model.expression[model.expression_names.index(name)]
                    points += (weight * MM_PER_UNIT) * shape.astype(np.float64)
            self.cache["expressed_key"], self.cache["expressed"] = key, points
        return self.cache["expressed"]

    def displacement(self, activation: Mapping) -> np.ndarray:
        """``(V, 3)`` offsets (mm) of the mesh's vertices that ``activation`` makes."""
        if not activation:
            return np.zeros_like(self.mesh.vertices)
        return (self.expressed_full(activation) - self.neutral_full)[self.keep]

    def texture(self, size: int, activation: Mapping | None = None) -> np.ndarray:
        """The subject's painted skin as a ``(size, size, 3)`` atlas of the mesh's UVs, its
        light shaded from the face showing ``activation`` (the folds of the expression, as a
        scanner's photograph holds them); the skin itself is the same on every scan."""
        vertices = self.neutral_full if not activation else self.expressed_full(activation)
        return paint_texture_atlas(
            self.model, vertices, np.random.default_rng(self.paint_seed), size
        )

    def bosphorus_vertices(self) -> dict[str, int]:
        """Mesh vertex of each Bosphorus landmark label (:data:`BOSPHORUS_LABELS`)."""
        marks = self.neutral_full[self.model.landmarks]
        targets = {}
        for label in BOSPHORUS_LABELS:
            ibug = _BOSPHORUS_IBUG[label]
            targets[label] = (
                marks[ibug] if isinstance(ibug, int) else (marks[ibug[0]] + marks[ibug[1]]) / 2
            )
        indices = _nearest_skin(self, np.array(list(targets.values())))
        return dict(zip(targets, (int(i) for i in indices), strict=True))


def build_ict_head(
    identity: Identity, rng: np.random.Generator, region: str = "narrow_face"
) -> IctHead:
    """A random ICT-FaceKit subject: identity weights drawn as the upstream scripts draw them,
    the mesh cut to ``region`` with its UVs, and the 83 BU-3DFE landmarks placed on it."""
    model = IctFaceModel.load()
    weights = random_identity(rng)
    paint_seed = int(rng.integers(2**32))
    neutral = model.shape(weights)
    keep = np.flatnonzero(region_mask(len(neutral), region))
    mesh = model.mesh(neutral, region, textured=True)
    head = IctHead(
        identity=identity,
        identity_weights=weights,
        region=region,
        mesh=mesh,
        keep=keep,
        landmark_indices=np.zeros(N_LANDMARKS, dtype=np.int64),
        paint_seed=paint_seed,
    )
    head.cache["neutral"] = neutral
    # the eyeballs' shells (asset vertices from HEAD_END on), which the scanner variety may take
    # away (face_openings.py); the cut mesh keeps the asset's vertices in order
    head.mesh.metadata[EYE_SURFACE_KEY] = np.flatnonzero(keep >= HEAD_END)
    head.landmark_indices = _nearest_skin(head, bu3dfe_landmark_points(neutral[model.landmarks]))
    head.mesh = head.with_vertices(mesh.vertices)
    return head


def _nearest_skin(head: IctHead, points: np.ndarray) -> np.ndarray:
    """Mesh vertex nearest to each point among the skin (not the eyeballs)."""
    skin = np.flatnonzero(head.keep < HEAD_END)
    vertices = head.neutral_full[head.keep[skin]]
    distances = np.linalg.norm(vertices[None, :, :] - np.asarray(points)[:, None, :], axis=-1)
    return skin[np.argmin(distances, axis=1)].astype(np.int64)


def _resample(polyline: np.ndarray, n: int, closed: bool = False) -> np.ndarray:
    """``n`` points evenly spaced by arc length along ``polyline`` (a closed loop: round it)."""
    points = np.vstack([polyline, polyline[:1]]) if closed else polyline
    lengths = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    stops = np.linspace(0.0, lengths[-1], n + 1 if closed else n)[:n]
    return np.stack([np.interp(stops, lengths, points[:, k]) for k in range(3)], axis=1)


def bu3dfe_landmark_points(ibug: np.ndarray) -> np.ndarray:
    """``(83, 3)`` the BU-3DFE landmark groups
    (:data:`~facevlm.synthetic.procedural.landmarks.LANDMARK_GROUPS`) placed from the 68 iBUG
    landmarks of a face (mm, y up, looking along +z).

    Eyes: the iBUG lid loop resampled to 8 points from the inner corner; brows: 10 points round
    the brow (the iBUG brow line raised and lowered by 2.5 mm, from the inner end); nose: the
    bridge's two sides (the bridge line 8 mm to either side) and the nostril chain resampled to
    6; mouth: iBUG's 12 outer and 8 inner points as they are; contour: the jaw line resampled
    to 15 points from image left over the chin. Image left is iBUG's first side.
    """
    ibug = np.asarray(ibug, dtype=np.float64)
    up = np.array([0.0, 2.5, 0.0])
    right = np.array([8.0, 0.0, 0.0])

    def eye(loop: np.ndarray, inner: int) -> np.ndarray:
        return _resample(np.roll(loop, -inner, axis=0), 8, closed=True)

    def brow(line: np.ndarray) -> np.ndarray:
        return np.vstack([line + up, line[::-1] - up])

    left_brow = ibug[17:22][::-1]  # from the inner end (21) outwards
    right_brow = ibug[22:27]  # 22 is the inner end
    bridge = ibug[27:30]
    groups = [
        eye(ibug[36:42], 3),  # 39: the image-left eye's inner corner
        eye(ibug[42:48], 0),  # 42: the image-right eye's inner corner
        brow(_resample(left_brow, 5)),
        brow(_resample(right_brow, 5)),
        bridge - right,
        bridge + right,
        _resample(ibug[31:36], 6),
        ibug[48:68],
        _resample(ibug[0:17], 15),
    ]
    points = np.vstack(groups)
    if len(points) != N_LANDMARKS:  # the groups' sizes are fixed above
        raise AssertionError(f"placed {len(points)} landmarks, expected {N_LANDMARKS}")
    return points


def relight_photo(
    image: np.ndarray, rng: np.random.Generator, strength: float = 1.0, grayscale: bool = False
) -> np.ndarray:
    """``image`` as another capture session would have photographed it: the exposure and the
    colour temperature change between sessions (``strength`` scales their spread, 0 leaves
    them), ``grayscale`` gives a grey-level photograph. The spreads are those of the procedural
    faces' :func:`~facevlm.synthetic.procedural.texture.relight`, whose side light depends on
    that atlas' layout."""
    if strength <= 0 and not grayscale:
        return image
    gain, cast = exposure(rng, strength)
    return developed(image.astype(np.float64) * (gain * cast), grayscale)

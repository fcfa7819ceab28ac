"""The mean face that :mod:`.face_pose` registers onto a scan to find where and which way the
face is.

Why a template from real people: the pose estimate must work on scans of real faces from any
database, so the shape it looks for is the neutral mean face of ICT-FaceKit (a morphable model
built from light-stage scans of real people; MIT licence, the notice ships beside the data file
as ``face_template.LICENSE``), not the project's own procedural generator. The tests then check
it on the generator's faces, which it was not made from.

What is kept: the *narrow face area* of the model (forehead to chin, ear to ear: roughly what a
face scanner captures and what BU-3DFE's crops show), resampled evenly over the surface (one
vertex per cell of a grid of :data:`GRID_MM`), so that the fit weighs every square centimetre
of the face the same whatever the model's vertex density. Coordinates are millimetres, y up, the
face looking along +z, centred on the face box (:attr:`FaceTemplate.face_centre` is the origin).

The template also carries the model's shape modes at its points (identity modes and expression
shapes, :attr:`FaceTemplate.identity_modes`): the face test bends the template with them toward
a scan whose face is far from the mean (:mod:`.face_pose.shape_fit`).

The file is derived once from ICT-FaceKit's packed model by
:func:`facevlm.synthetic.ict_facekit.template.build_template` (``python -m
facevlm.synthetic.ict_facekit.template ICT_NPZ``; the model's file format is the synthetic
package's) and read by :func:`load_template`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

TEMPLATE_FILE = Path(__file__).with_name("face_template.npz")
#: Vertices 0..NARROW_FACE_END-1 of ICT-FaceKit are its narrow face area.
NARROW_FACE_END = 6706
#: ICT-FaceKit is in centimetres.
ICT_MM_PER_UNIT = 10.0
#: Resampling grid: a cell of this size keeps one vertex (~1,800 points on a face).
GRID_MM = 5.0
#: Identity modes kept (the model has 100; beyond the first 30 each moves the face by 0.2 mm
#: root mean square or less).
IDENTITY_MODES = 30
#: Expression shapes left out: the pupils are no part of a scanned surface.
DROPPED_EXPRESSIONS = ("PupilDilate",)


@dataclass(frozen=True)
class FaceTemplate:
    """Points and unit normals of the mean face, in millimetres, centred on the face box.

    Attributes:
        points: ``(N, 3)`` evenly spread over the face.
        normals: ``(N, 3)`` outward unit normals.
        face_radius: radius of the face box (the robust sphere of the face, as
            :func:`~facevlm.render.normalize.fit_normalization` defines it), mm.
        nose_tip: ``(3,)`` the most forward point, used to place the first guesses.
        identity_modes: ``(N, 3, K)`` how each point moves per unit weight of each of the
            model's first :data:`IDENTITY_MODES` identity modes (weights standard normal), mm.
        expression_shapes: ``(N, 3, E)`` the same for its expression shapes (weights in
            [0, 1]), mm. Both None for a template without them (then the face test reads the
            mean face alone).
        expression_names: the ARKit name of each expression shape (``jawOpen``).
    """

    points: np.ndarray
    normals: np.ndarray
    face_radius: float
    nose_tip: np.ndarray
    identity_modes: np.ndarray | None = None
    expression_shapes: np.ndarray | None = None
    expression_names: tuple[str, ...] = ()


def save_template(template: FaceTemplate, path: str | Path = TEMPLATE_FILE) -> Path:
    np.savez_compressed(
        path,
        points=template.points.astype(np.float32),
        normals=template.normals.astype(np.float32),
        face_radius=np.float64(template.face_radius),
        nose_tip=template.nose_tip.astype(np.float64),
        # half precision: a mode's largest move is a few centimetres, kept to a few
        # hundredths of a millimetre
        identity_modes=template.identity_modes.astype(np.float16),
        expression_shapes=template.expression_shapes.astype(np.float16),
        expression_names=np.array(template.expression_names),
    )
    return Path(path)


@lru_cache(maxsize=2)
def load_template(path: str | Path = TEMPLATE_FILE) -> FaceTemplate:
    """The shipped template (read once per process)."""
    with np.load(path) as data:
        return FaceTemplate(
            points=data["points"].astype(np.float64),
            normals=data["normals"].astype(np.float64),
            face_radius=float(data["face_radius"]),
            nose_tip=data["nose_tip"].astype(np.float64),
            identity_modes=data["identity_modes"].astype(np.float64),
            expression_shapes=data["expression_shapes"].astype(np.float64),
            expression_names=tuple(str(name) for name in data["expression_names"]),
        )

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

The file is derived once by :func:`build_template` (``python -m facevlm.render.face_template
ICT_NPZ``) and read by :func:`load_template`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from facevlm.render.arrays import area_weighted_normals

TEMPLATE_FILE = Path(__file__).with_name("face_template.npz")
#: Vertices 0..NARROW_FACE_END-1 of ICT-FaceKit are its narrow face area.
NARROW_FACE_END = 6706
#: ICT-FaceKit is in centimetres.
ICT_MM_PER_UNIT = 10.0
#: Resampling grid: a cell of this size keeps one vertex (~1,800 points on a face).
GRID_MM = 5.0


@dataclass(frozen=True)
class FaceTemplate:
    """Points and unit normals of the mean face, in millimetres, centred on the face box.

    Attributes:
        points: ``(N, 3)`` evenly spread over the face.
        normals: ``(N, 3)`` outward unit normals.
        face_radius: radius of the face box (the robust sphere of the face, as
            :func:`~facevlm.render.normalize.fit_normalization` defines it), mm.
        nose_tip: ``(3,)`` the most forward point, used to place the first guesses.
    """

    points: np.ndarray
    normals: np.ndarray
    face_radius: float
    nose_tip: np.ndarray


def build_template(ict_npz: str | Path, grid_mm: float = GRID_MM) -> FaceTemplate:
    """The template from ICT-FaceKit's packed model (``ict_facekit_light.npz``)."""
    from facevlm.render.normalize import fit_normalization
    from facevlm.synthetic.ict_facekit import quad_triangles

    model = np.load(ict_npz)
    vertices = model["neutral"].astype(np.float64) * ICT_MM_PER_UNIT
    triangles = quad_triangles(model["faces"])
    triangles = triangles[(triangles < NARROW_FACE_END).all(axis=1)]
    face = vertices[:NARROW_FACE_END]
    normals = area_weighted_normals(face, triangles)
    box = fit_normalization(face)
    cells = np.floor((face - face.min(axis=0)) / grid_mm).astype(np.int64)
    _, keep = np.unique(cells, axis=0, return_index=True)
    keep = np.sort(keep)
    keep = keep[np.linalg.norm(normals[keep], axis=1) > 0.5]
    points = face[keep] - box.centre
    tip = points[np.argmax(points[:, 2])]
    return FaceTemplate(points, normals[keep], box.radius, tip)


def save_template(template: FaceTemplate, path: str | Path = TEMPLATE_FILE) -> Path:
    np.savez_compressed(
        path,
        points=template.points.astype(np.float32),
        normals=template.normals.astype(np.float32),
        face_radius=np.float64(template.face_radius),
        nose_tip=template.nose_tip.astype(np.float64),
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
        )


if __name__ == "__main__":  # pragma: no cover - run by hand to derive the shipped file
    built = build_template(sys.argv[1])
    print(f"{save_template(built)}: {len(built.points)} points, radius {built.face_radius:.1f} mm")

"""The pose estimate's face template derived from ICT-FaceKit's packed model: its narrow face
area resampled evenly, with the identity modes and expression shapes at the kept points
(:mod:`facevlm.render.face_template` says why and what is kept, and reads the shipped file).

Here, not beside the template, because it reads the model's file format, which this package
owns; the render layer only reads the result.

    python -m facevlm.synthetic.ict_facekit.template ICT_NPZ
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from facevlm.render.arrays import area_weighted_normals
from facevlm.render.face_template import (
    DROPPED_EXPRESSIONS,
    GRID_MM,
    ICT_MM_PER_UNIT,
    IDENTITY_MODES,
    NARROW_FACE_END,
    FaceTemplate,
    save_template,
)
from facevlm.render.normalize import fit_normalization
from facevlm.synthetic.ict_facekit.model import quad_triangles


def build_template(ict_npz: str | Path, grid_mm: float = GRID_MM) -> FaceTemplate:
    """The template from ICT-FaceKit's packed model (``ict_facekit_light.npz``)."""
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
    names = [str(name) for name in model["expression_names"]]
    kept = [i for i, name in enumerate(names) if not name.startswith(DROPPED_EXPRESSIONS)]
    identity = model["identity"][:IDENTITY_MODES][:, keep] * ICT_MM_PER_UNIT
    expression = model["expression"][kept][:, keep] * ICT_MM_PER_UNIT
    return FaceTemplate(
        points,
        normals[keep],
        box.radius,
        tip,
        identity_modes=identity.transpose(1, 2, 0).astype(np.float64),
        expression_shapes=expression.transpose(1, 2, 0).astype(np.float64),
        expression_names=tuple(names[i] for i in kept),
    )


if __name__ == "__main__":  # pragma: no cover - run by hand to derive the shipped file
    built = build_template(sys.argv[1])
    print(f"{save_template(built)}: {len(built.points)} points, radius {built.face_radius:.1f} mm")

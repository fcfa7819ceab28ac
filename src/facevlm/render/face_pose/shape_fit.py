"""The template bent to the scan's own face: a fitted face's identity and expression, so that
the face test asks whether *a* human face lies on the scan, not the mean face.

Why: the face test (package doc, step 4) measures how much of the template, ICT-FaceKit's
mean face, lies on the scan, and a real face far from the mean in shape (a broad, flat nose,
full lips) fails it at its true fit: a fault that falls on people, not on scans. The template
carries the morphable model's identity modes and expression shapes at its points
(:attr:`~facevlm.render.face_template.FaceTemplate.identity_modes`), and a refused fit is
tested again against the template bent by them toward the scan.

How: from one fit (``x = s R p + t``), a few steps of regularised point-to-plane least
squares solve for the pose and the mode weights together (Gauss-Newton, each step pairing
every template point with its nearest scan point and trimming the worst pairs as the ICP
does). The weights are held to what a face can be: each identity weight has the standard
normal prior of the model's own sampling and is clipped at :data:`IDENTITY_LIMIT` standard
deviations, each expression weight a prior of :data:`EXPRESSION_SD` and the blendshape range
``[0, 1]``. Bent, the template fits more than faces: it is asked for more of the scan around
it (:data:`~facevlm.render.face_pose.BENT_MIN_PRECISION`), and it is only looked at once the
mean face has refused every fit (docs/what-we-tried/face-pose.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from facevlm.render.face_pose.icp import REACH_MM
from facevlm.render.face_pose.rotations import _rotation_vectors
from facevlm.render.face_pose.scan_surface import _Scan
from facevlm.render.face_template import FaceTemplate

#: Gauss-Newton steps of the joint pose and shape fit, and the share of pairs each keeps.
SHAPE_ITERATIONS = 8
SHAPE_TRIM = 0.9
#: How far a scan point lies from the bent template once it fits, in mm (measurement noise and
#: what the modes cannot express): the data term's weight against the priors below.
SHAPE_NOISE_MM = 2.0
#: Identity weights: the model samples them from a standard normal; beyond this many standard
#: deviations lie faces the model never saw.
IDENTITY_LIMIT = 3.0
#: Expression weights: blendshapes, each in [0, 1]; most of a face's shapes stay near 0.
EXPRESSION_SD = 0.5
#: Neighbours a bent template point's normal is estimated from (the template's points are
#: about 5 mm apart: 12 of them span a patch about 1.5 cm across).
NORMAL_NEIGHBOURS = 12


def fit_shape(scan: _Scan, template: FaceTemplate, fit) -> tuple[FaceTemplate, tuple]:
    """The template bent toward the scan from the fit ``fit`` (``scale, rotation, shift``, one
    each), and the fit refined with it: ``(bent template, (1,)-batched (scale, rotation,
    shift))``.

    The bent template keeps the template's points in the same order (its regions, the
    central face and the nose ridge, are found on it as on the template) with normals
    estimated from their neighbours, and the template's face radius.

    Why the pose is refined with the shape: the search held the fit by the mean face, which
    a face far from it matches poorly (a flat-nosed face turned and damaged: 11.6 degrees off
    as the search left it, 4.4 refined with its shape); bent in the search's fit alone, the
    template also fitted the lumps of a blob where the search had left it (113 of 800 lumpy
    blobs passed the face test), while refined with the pose it slides off them."""
    weights, (scale, rotation, shift) = fit_shape_weights(scan, template, fit)
    bent = template.points + _modes(template) @ weights
    bent_template = replace(
        template,
        points=bent,
        normals=_normals(bent, template),
        nose_tip=bent[int(np.argmax(template.points[:, 2]))],
    )
    return bent_template, (np.array([scale]), rotation[None], shift[None])


def fit_shape_weights(scan: _Scan, template: FaceTemplate, fit) -> tuple[np.ndarray, tuple]:
    """The weights of the template's identity modes then expression shapes that bend it toward
    the scan from the fit ``fit`` (``scale, rotation, shift``, one each), and the fit refined
    with them (unbatched): ``(weights, (scale, rotation, shift))``.

    The expression weights are the scan's face read as the morphable model's blend shapes
    (``template.expression_names``), with the identity fitted beside them: what
    docs/what-we-tried/source-gap.md compares between face sources."""
    modes = _modes(template)
    n_identity = template.identity_modes.shape[2]
    prior_sd = np.r_[np.ones(n_identity), np.full(modes.shape[2] - n_identity, EXPRESSION_SD)]
    # no prior on the 7 pose unknowns (a tiny one keeps the system regular)
    damping = np.r_[np.full(7, 1e-6), (SHAPE_NOISE_MM / prior_sd) ** 2]
    weights = np.zeros(modes.shape[2])
    scale, rotation, shift = float(fit[0]), np.array(fit[1], dtype=float), np.array(fit[2])
    for _ in range(SHAPE_ITERATIONS):
        bent = template.points + modes @ weights
        distance, nearest = scan.tree.query(
            scale * bent @ rotation.T + shift, distance_upper_bound=REACH_MM * scale
        )
        nearest = np.minimum(nearest, len(scan.points) - 1)
        paired = np.isfinite(distance) & ~scan.border[nearest]
        if paired.sum() < 7 + modes.shape[2]:
            break  # too little of the scan near the fit to say anything of its shape
        paired &= distance <= np.quantile(distance[paired], SHAPE_TRIM)
        # the scan's points and normals in the template's frame (mm at the template's size)
        target = (scan.points[nearest[paired]] - shift) @ rotation / scale
        normal = scan.normals[nearest[paired]] @ rotation
        points = bent[paired]
        centre = points.mean(axis=0)
        relative = (points - centre) / 100.0  # a small rotation and log-scale, well scaled
        # each pair's distance along the scan's normal, linear in the small rotation, the
        # shift, the log-scale and the weights
        rows = np.concatenate(
            [
                np.cross(relative, normal),
                normal,
                np.einsum("ni,ni->n", relative, normal)[:, None],
                np.einsum("ni,nik->nk", normal, modes[paired]),
            ],
            axis=1,
        )
        residual = np.einsum("ni,ni->n", normal, target - points)
        lhs = rows.T @ rows + np.diag(damping)
        rhs = rows.T @ residual - damping * np.r_[np.zeros(7), weights]
        update = np.linalg.solve(lhs, rhs)
        weights = weights + update[7:]
        weights[:n_identity] = np.clip(weights[:n_identity], -IDENTITY_LIMIT, IDENTITY_LIMIT)
        weights[n_identity:] = np.clip(weights[n_identity:], 0.0, 1.0)
        # the template frame's points move to g (p - centre) + centre + move, g = grow * turn
        turn = _rotation_vectors(update[None, :3] / 100.0)[0]
        grow = float(np.exp(update[6] / 100.0))
        shift = shift + scale * rotation @ (centre + update[3:6] - grow * turn @ centre)
        rotation = rotation @ turn
        scale *= grow
    return weights, (scale, rotation, shift)


def _normals(points: np.ndarray, template: FaceTemplate) -> np.ndarray:
    """Unit normals of the bent template's points: the least-spread direction of each point's
    :data:`NORMAL_NEIGHBOURS` nearest template neighbours, turned out of the face as the
    template's own normals are.

    Not :func:`~facevlm.render.arrays.area_weighted_normals`: the template is a point set with
    no triangles, and the bent fit (its steps and its precision bar) was tuned with these."""
    _, neighbours = cKDTree(template.points).query(template.points, k=NORMAL_NEIGHBOURS)
    patch = points[neighbours]
    patch = patch - patch.mean(axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", patch, patch))
    normals = vectors[:, :, 0]
    return normals * np.sign(np.einsum("ni,ni->n", normals, template.normals))[:, None]


def _modes(template: FaceTemplate) -> np.ndarray:
    """``(N, 3, K + E)``: the template's identity modes, then its expression shapes."""
    return np.concatenate([template.identity_modes, template.expression_shapes], axis=2)

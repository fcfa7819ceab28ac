"""The trimmed point-to-plane similarity ICP that refines a batch of template placements on
the scan at once (package doc, step 2): the one numerical kernel, called by every stage and
the polish with their own points, iterations, trim and search tolerance.
"""

from __future__ import annotations

import numpy as np

from facevlm.render.face_pose.rotations import _rotation_vectors
from facevlm.render.face_pose.scan_surface import _Scan

#: Share of the template's pairs kept by each ICP step (the rest: holes, hair, open mouth),
#: and by the last stage's: more pairs there hold the face's position where a face differs
#: in shape from the template (trimming a quarter lets the fit slide along the face).
TRIM, FINAL_TRIM = 0.75, 0.9
#: Template points farther than this from the scan (mm at the face's size) pull on nothing.
REACH_MM = 40.0


def _icp(
    scan: _Scan,
    template_points: np.ndarray,
    scale: np.ndarray,
    rotation: np.ndarray,
    shift: np.ndarray,
    iterations: int,
    scale_bounds: tuple[np.ndarray, np.ndarray],
    trim: float = TRIM,
    eps: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refine B similarity transforms ``x = s R p + t`` of the template onto the scan at once:
    trimmed point-to-plane steps, linearised in a small rotation, shift and log-scale."""
    n_batch, n_points = len(scale), len(template_points)
    keep = max(3, int(trim * n_points))
    eye = np.eye(7) * 1e-3 * keep
    reach = REACH_MM * float(np.max(scale))
    rows = np.empty((n_batch, n_points, 7))  # one row of the linear system per pair
    for _ in range(iterations):
        moved = scale[:, None, None] * template_points @ rotation.transpose(0, 2, 1)
        moved += shift[:, None, :]
        # far points are not looked up exactly (a kd-tree search far from the surface is slow)
        distance, nearest = scan.tree.query(
            moved.reshape(-1, 3), distance_upper_bound=reach, eps=eps
        )
        nearest = np.minimum(nearest, len(scan.points) - 1).reshape(n_batch, n_points)
        distance = distance.reshape(n_batch, n_points)
        cut = np.partition(distance, keep - 1, axis=1)[:, keep - 1 : keep]
        paired = (distance <= cut) & np.isfinite(distance) & ~scan.border[nearest]
        weight = paired.astype(np.float64)
        pair = scan.points_normals[nearest]  # one gather of both: (B, M, 6)
        target, normal = pair[..., :3], pair[..., 3:]
        centre = np.einsum("bm,bmk->bk", weight, moved) / np.maximum(
            weight.sum(axis=1, keepdims=True), 1.0
        )
        size = scale * 100.0  # the template's size, for well-scaled unknowns
        relative = (moved - centre[:, None, :]) / size[:, None, None]
        # the rows: relative x normal (the small rotation), normal (the shift), relative . normal
        # (the log-scale), each weighted; written in place, as np.cross and a concatenate
        # cost more than the products themselves at this size
        rx, ry, rz = relative[..., 0], relative[..., 1], relative[..., 2]
        nx, ny, nz = normal[..., 0], normal[..., 1], normal[..., 2]
        np.multiply(ry * nz - rz * ny, weight, out=rows[..., 0])
        np.multiply(rz * nx - rx * nz, weight, out=rows[..., 1])
        np.multiply(rx * ny - ry * nx, weight, out=rows[..., 2])
        np.multiply(normal, weight[..., None], out=rows[..., 3:6])
        np.multiply(rx * nx + ry * ny + rz * nz, weight, out=rows[..., 6])
        residual = np.einsum("bmk,bmk->bm", target - moved, normal) / size[:, None]
        lhs = rows.transpose(0, 2, 1) @ rows + eye
        rhs = np.einsum("bmi,bm->bi", rows, residual)  # the rows carry the weight (0 or 1)
        update = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        step = _rotation_vectors(update[:, :3])
        new_scale = np.clip(scale * np.exp(update[:, 6]), *scale_bounds)
        factor = (new_scale / scale)[:, None]
        rotation = step @ rotation
        offset = np.einsum("bij,bj->bi", step, shift - centre)
        shift = centre + factor * offset + update[:, 3:6] * size[:, None]
        scale = new_scale
    return scale, rotation, shift

"""The stages that move vertices without adding or removing any: the head's pose
(``pose_deg``), measurement noise along the normal (``noise_mm``), the software's Taubin
smoothing (``smoothing``) and the file's unit (``units``); landmarks move with their anchors.

Separate from the cuts (:mod:`.cuts`) and the remeshing (:mod:`.remesh`) because they keep the
mesh's topology, UVs and colours exactly as they are.
"""

from __future__ import annotations

import numpy as np

from facevlm.render.arrays import polygon_edges
from facevlm.synthetic.scanner_variety.settings import UNITS, ScannerVariety
from facevlm.synthetic.scanner_variety.working_copy import (
    _adjacency,
    _Scan,
    _vertex_normals_and_areas,
)

#: Taubin's shrink and inflate steps (lambda, mu): one iteration smooths about like one Laplacian
#: step of 0.5 but the surface barely shrinks.
TAUBIN_LAMBDA, TAUBIN_MU = 0.5, -0.53


def _rotate(scan: _Scan, rng: np.random.Generator, sd_deg: float) -> dict:
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    angle = float(np.clip(rng.normal(0.0, sd_deg), -3 * sd_deg, 3 * sd_deg))
    if angle < 0:
        axis, angle = -axis, -angle
    theta = np.radians(angle)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * (k @ k)
    centre = scan.vertices[np.unique(scan.indices)].mean(axis=0)
    scan.vertices = (scan.vertices - centre) @ rotation.T + centre
    if scan.landmarks is not None:
        scan.landmarks = (scan.landmarks - centre) @ rotation.T + centre
    return {"pose_deg": angle, "pose_axis": axis.tolist()}


def _noise(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    sd = float(rng.uniform(*variety.noise_mm))
    draws = rng.standard_normal(scan.n_vertices)
    if sd <= 0:
        return {"noise_mm": 0.0}
    normals, _ = _vertex_normals_and_areas(scan)
    old = scan.vertices
    scan.vertices = old + normals * (sd * draws)[:, None]
    scan.move_landmarks_with(old)
    return {"noise_mm": sd}


def _smooth(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    iterations = int(rng.integers(variety.smoothing[0], variety.smoothing[1] + 1))
    if iterations == 0:
        return {"smoothing_iterations": 0}
    n = scan.n_vertices
    a, b, counts = polygon_edges(scan.offsets, scan.indices, n)
    graph = _adjacency(a, b, n)
    degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    # borders stay put: the outer border would shrink and the lips' slit would open
    free = degree > 0
    free[a[counts == 1]] = False
    free[b[counts == 1]] = False
    scale = np.where(free, 1.0 / np.maximum(degree, 1.0), 0.0)[:, None]
    old = scan.vertices
    v = old.copy()
    for _ in range(iterations):
        for step in (TAUBIN_LAMBDA, TAUBIN_MU):
            v += step * scale * (graph @ v - degree[:, None] * v)
    scan.vertices = v
    scan.move_landmarks_with(old)
    return {"smoothing_iterations": iterations}


def _units(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    unit = variety.units[int(rng.integers(len(variety.units)))]
    if unit != "mm":
        scan.vertices = scan.vertices / UNITS[unit]
        if scan.landmarks is not None:
            scan.landmarks = scan.landmarks / UNITS[unit]
    return {"unit": unit}

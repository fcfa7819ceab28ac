"""The stages that cut the surface: holes where the scanner saw nothing (``holes``) and the
open outer border eroded raggedly (``ragged_border_mm``), both keeping clear of the face's
landmarks.

Separate because they alone decide which part of the face must survive (:func:`_protected`);
the other stages move, add or merge vertices but leave the surface whole.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from facevlm.render.arrays import polygon_edges
from facevlm.synthetic.scanner_variety.settings import ScannerVariety
from facevlm.synthetic.scanner_variety.working_copy import (
    _adjacency,
    _loop_lengths,
    _remove_vertices,
    _Scan,
    _vertex_normals_and_areas,
)

#: How much likelier a hole starts on a surface seen edge-on than on one facing the scanner is
#: ``(HOLE_FACING_WEIGHT + 1) / HOLE_FACING_WEIGHT``: structured-light scanners lose grazing
#: surfaces (under the chin, the sides of the nose, the border) far more often.
HOLE_FACING_WEIGHT = 0.3
#: Relative amplitude of a hole's outline (a sum of a few angular harmonics): holes are blotches,
#: not discs.
HOLE_WOBBLE = 0.15
#: The ragged border's depth varies by this fraction of its mean along the border (beyond 1, so
#: that some stretches of the border stay whole while others are bitten deep) ...
RAGGED_AMPLITUDE = 1.5
#: ... with wavelengths drawn from this range (mm): bites of a few millimetres to a few cm.
RAGGED_WAVELENGTH_MM = (6.0, 30.0)
#: Without landmarks, the radius (mm) around the front-most vertex (the nose tip of a
#: face-forward scan) that holes and the ragged border never touch.
FALLBACK_PROTECTED_MM = 45.0


def _protected(scan: _Scan, clearance_mm: float) -> np.ndarray:
    """Vertices that holes and the ragged border must leave: those within ``clearance_mm`` of a
    landmark, and the other corners of their polygons (so that each of them keeps a polygon:
    a vertex whose every polygon lost a corner would go with them)."""
    v = scan.vertices
    if scan.landmarks is not None:
        distance, _ = cKDTree(scan.landmarks).query(v, distance_upper_bound=clearance_mm)
        near = np.isfinite(distance)
        near[scan.anchors] = True
    else:
        used = np.flatnonzero(np.bincount(scan.indices, minlength=len(v)))
        tip = v[used[v[used, 2].argmax()]]
        near = np.linalg.norm(v - tip, axis=1) <= FALLBACK_PROTECTED_MM
    touched = np.add.reduceat(near[scan.indices].astype(np.int64), scan.offsets[:-1]) > 0
    protected = near.copy()
    protected[scan.indices[np.repeat(touched, np.diff(scan.offsets))]] = True
    return protected


def _cut_holes(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    n_holes = int(rng.poisson(variety.holes))
    radii = rng.uniform(*variety.hole_radius_mm, size=n_holes)
    harmonics = rng.uniform(0.0, HOLE_WOBBLE, size=(n_holes, 3))
    phases = rng.uniform(0.0, 2 * np.pi, size=(n_holes, 3))
    picks = rng.random(n_holes)
    record = {"holes": 0, "hole_radii_mm": [], "hole_centres": []}
    if n_holes == 0:
        return record
    v = scan.vertices
    normals, area = _vertex_normals_and_areas(scan)
    protected = _protected(scan, variety.hole_clearance_mm)
    # scanners see along -z: a surface facing +z is seen square on, one facing away not at all
    weight = area * (HOLE_FACING_WEIGHT + 1.0 - np.clip(normals[:, 2], 0.0, 1.0))
    weight[protected] = 0.0
    if weight.sum() <= 0:
        return record
    cumulative = np.cumsum(weight)
    cut = np.zeros(len(v), dtype=bool)
    for radius, amplitude, phase, pick in zip(radii, harmonics, phases, picks, strict=True):
        centre = int(np.searchsorted(cumulative, pick * cumulative[-1], side="right"))
        centre = min(centre, len(v) - 1)
        normal = normals[centre]
        helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        t1 = np.cross(normal, helper)
        t1 /= np.linalg.norm(t1)
        t2 = np.cross(normal, t1)
        d = v - v[centre]
        near = np.flatnonzero(np.einsum("ij,ij->i", d, d) < (radius * (1 + 3 * HOLE_WOBBLE)) ** 2)
        dn = d[near]
        angle = np.arctan2(dn @ t2, dn @ t1)
        outline = radius * (
            1.0 + sum(amplitude[j] * np.cos((j + 2) * angle + phase[j]) for j in range(3))
        )
        inside = (np.linalg.norm(dn, axis=1) < outline) & (np.abs(dn @ normal) < radius)
        cut[near[inside]] = True
        record["hole_radii_mm"].append(float(radius))
        record["hole_centres"].append(v[centre].tolist())
    cut &= ~protected
    record["holes"] = n_holes
    record["vertices_removed"] = _remove_vertices(scan, cut)
    return record


def _ragged_border(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    depth = float(rng.uniform(*variety.ragged_border_mm))
    wavelengths = rng.uniform(*RAGGED_WAVELENGTH_MM, size=3)
    directions = rng.standard_normal((3, 3))
    phases = rng.uniform(0.0, 2 * np.pi, size=3)
    record = {"ragged_border_mm": depth}
    if depth <= 0:
        return record
    v = scan.vertices
    a, b, counts = polygon_edges(scan.offsets, scan.indices, len(v))
    single = counts == 1
    lengths, labels = _loop_lengths(v, np.stack([a[single], b[single]], axis=1))
    if len(lengths) == 0:
        return record
    border = np.flatnonzero(labels == 0)  # the longest border: the outer one
    graph = _adjacency(a, b, len(v), points=v)
    limit = depth * (1.0 + RAGGED_AMPLITUDE)
    distance = dijkstra(graph, directed=False, indices=border, min_only=True, limit=limit)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    waves = np.cos((v @ directions.T) * (2 * np.pi / wavelengths) + phases).mean(axis=1)
    eroded = distance < depth * (1.0 + RAGGED_AMPLITUDE * waves)
    eroded &= ~_protected(scan, variety.hole_clearance_mm)
    record["border_vertices_removed"] = _remove_vertices(scan, eroded)
    return record

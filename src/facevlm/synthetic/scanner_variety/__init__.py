"""Scanner variety: the ways real scanners and their software make one face into different meshes.

Why: every synthetic face of the generator has the same vertex density, the same clean surface,
the same unbroken border and millimetre coordinates, and a model trained on them can learn those
habits instead of the expressions. Real scans differ in exactly these respects: the scanner's
software decimates or refines the mesh, smooths it more or less, measures it with noise, leaves
holes where it saw nothing (hair, the glint of the eyes, under the chin, grazing surfaces), cuts
the border raggedly, writes centimetres or metres, and the head sits a little turned. This
module applies such degradations to any :class:`~facevlm.scans.mesh.FaceMesh`, one knob each, so
that what each knob does can be switched on alone and measured (``benchmarks/scanner_variety.py``).

Every knob is off by default and :class:`ScannerVariety` with no arguments leaves a mesh
bit-identical. :func:`apply_scanner_variety` returns the degraded mesh and a JSON-ready record of
what was drawn, for the dataset manifest. The stages run in the order a real capture happens:

0. ``mouth_cavity_share``, ``eye_surface_share``: what the scanner saw through an open mouth,
   the teeth and tongue (a surface behind the lips) or nothing (a hole), and of the eyes, their
   surface or nothing (:mod:`.face_openings`);
1. ``pose_deg``: the head turned a little in front of the scanner (about its centroid);
2. ``holes``: surfaces the scanner did not see, preferably those at grazing angles to it;
3. ``ragged_border_mm``: the open outer border eroded by a jagged, varying depth;
4. ``noise_mm``: measurement noise along the surface normal;
5. ``smoothing``: the software's Taubin smoothing (little shrinkage; the borders stay put);
6. ``density``: the software's remeshing, fewer vertices (clustering) or more (edge splits);
7. ``units``: the file's unit, millimetres, centimetres or metres.

What is kept consistent through all of them:

- UVs, per-vertex or face-varying, and vertex colours: what is removed is dropped, what is
  added is interpolated (a new vertex halfway along an edge gets the mean UV of the edge's two
  corners on each side of a texture seam, and the mean colour), and a vertex that survives
  keeps its own UVs and colour exactly, so the texture looks the same on the degraded mesh.
- Landmarks are never dropped (the landmark files keep their length). Each landmark is tied to
  an *anchor* vertex: the one ``metadata["landmark_indices"]`` names, else the clean mesh's
  vertex nearest it. Noise and smoothing move a landmark with its anchor; pose and units
  transform it like the mesh; subdivision keeps every vertex; decimation keeps anchors as
  cluster representatives where it can. When an anchor is nevertheless removed or merged, the
  landmark moves to the kept vertex that took its place (the nearest kept vertex, or the
  cluster's representative) and its number is listed in the record's ``landmarks_moved``.
  ``metadata["landmark_indices"]``, when the input has it, names the new anchors.
- The face itself: holes and the ragged border never remove a vertex within
  ``hole_clearance_mm`` of a landmark (or, for a mesh without landmarks, within
  :data:`FALLBACK_PROTECTED_MM` of its front-most vertex), so eyes, nose and mouth survive.
- Validity: the result passes :meth:`FaceMesh.validate`.

Each knob draws from a random stream of its own, derived from the caller's generator, so
switching one knob on does not change what the others draw, and the same generator state gives
the same mesh, bit for bit.

The package, one job a module (this module: :func:`apply_scanner_variety`, which runs the
stages in order and keeps the record):

- :mod:`.settings`      :class:`ScannerVariety`, the knobs and their checks
- :mod:`.working_copy`  the mesh being degraded and the bookkeeping of removed vertices
- :mod:`.moves`         pose, noise, smoothing and units: vertices moved, none added or removed
- :mod:`.cuts`          holes and the ragged border, clear of the landmarks
- :mod:`.remesh`        decimation and subdivision
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.face_openings import (
    EYE_SURFACE_KEY,
    MOUTH_INTERIOR_KEY,
    listed_mask,
    with_mouth_back_wall,
)
from facevlm.synthetic.scanner_variety.cuts import _cut_holes, _ragged_border
from facevlm.synthetic.scanner_variety.moves import _noise, _rotate, _smooth, _units
from facevlm.synthetic.scanner_variety.remesh import _remesh
from facevlm.synthetic.scanner_variety.settings import (
    KNOBS,
    OPENING_KNOBS,
    UNITS,
    ScannerVariety,
)
from facevlm.synthetic.scanner_variety.working_copy import (
    _landmark_anchors,
    _remove_vertices,
    _Scan,
    boundary_loops,
)

__all__ = ["KNOBS", "UNITS", "ScannerVariety", "apply_scanner_variety", "boundary_loops"]

#: Decimals of the floats in the record (the manifest stays compact and stable).
_RECORD_DECIMALS = 4


def apply_scanner_variety(
    mesh: FaceMesh, variety: ScannerVariety, rng: np.random.Generator
) -> tuple[FaceMesh, dict]:
    """``mesh`` as a scanner with ``variety`` might have delivered it, and what was drawn.

    ``mesh`` is in millimetres (as every face here); it is not modified. Returns the degraded
    mesh (valid, UVs, colours and landmarks consistent; see the module docstring) and a
    JSON-ready record with the same keys whatever is on:

    ``pose_deg`` (angle of the turn drawn, >= 0), ``pose_axis`` (unit axis, or None),
    ``holes`` (number of holes cut), ``hole_radii_mm``, ``hole_centres`` (mm, in the turned
    frame before the unit change), ``ragged_border_mm`` (mean erosion depth drawn),
    ``noise_mm`` (the noise's standard deviation drawn), ``smoothing_iterations``,
    ``density`` (the vertex-count factor aimed at), ``unit`` (``mm``, ``cm`` or ``m``),
    ``vertices`` (``[before, after]``), ``vertices_removed`` (by holes and the ragged border),
    ``landmarks_moved`` (numbers of the landmarks whose anchor vertex was removed or merged),
    ``mouth`` (``cavity``, ``hole``, or None with ``mouth_cavity_share`` off), ``eyes``
    (``surface``, ``hole``, or None with ``eye_surface_share`` off).

    With every knob off the mesh comes back bit-identical (a shallow copy).
    """
    # one stream per knob, drawn whatever is on, so each knob's draws do not depend on the others
    # (the face openings' are drawn last, each only when it is on: see KNOBS)
    later = [k for k in KNOBS if k not in OPENING_KNOBS]
    seeds = rng.integers(0, 2**63 - 1, size=len(later))
    streams = {k: np.random.default_rng(int(s)) for k, s in zip(later, seeds, strict=True)}
    active = variety.active
    for knob in OPENING_KNOBS:
        if knob in active:
            streams[knob] = np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
    mouth = eyes = None
    if "mouth_cavity_share" in active:
        cavity = streams["mouth_cavity_share"].random() < variety.mouth_cavity_share
        mouth = "cavity" if cavity else "hole"
        if cavity:  # a face with its own interior keeps it
            mesh = with_mouth_back_wall(mesh)
    if "eye_surface_share" in active:
        seen = streams["eye_surface_share"].random() < variety.eye_surface_share
        eyes = "surface" if seen else "hole"
    anchors = _landmark_anchors(mesh) if active else None
    scan = _Scan(
        vertices=mesh.vertices,
        offsets=mesh.polygon_offsets,
        indices=mesh.polygon_indices,
        uv=mesh.uv,
        uv_indices=mesh.uv_indices,
        colours=mesh.vertex_colors,
        landmarks=None if anchors is None else mesh.landmarks,
        anchors=anchors,
        moved=set(),
    )
    record: dict[str, Any] = {
        "pose_deg": 0.0,
        "pose_axis": None,
        "holes": 0,
        "hole_radii_mm": [],
        "hole_centres": [],
        "ragged_border_mm": 0.0,
        "noise_mm": 0.0,
        "smoothing_iterations": 0,
        "density": 1.0,
        "unit": "mm",
        "mouth": mouth,
        "eyes": eyes,
    }
    removed = 0
    lost = np.zeros(mesh.n_vertices, dtype=bool)
    if mouth == "hole":
        lost |= listed_mask(mesh, MOUTH_INTERIOR_KEY)
    if eyes == "hole":
        lost |= listed_mask(mesh, EYE_SURFACE_KEY)
    removed += _remove_vertices(scan, lost)
    if "pose_deg" in active:
        record.update(_rotate(scan, streams["pose_deg"], variety.pose_deg))
    if "holes" in active:
        holes = _cut_holes(scan, streams["holes"], variety)
        removed += holes.pop("vertices_removed", 0)
        record.update(holes)
    if "ragged_border_mm" in active:
        border = _ragged_border(scan, streams["ragged_border_mm"], variety)
        removed += border.pop("border_vertices_removed", 0)
        record.update(border)
    if "noise_mm" in active:
        record.update(_noise(scan, streams["noise_mm"], variety))
    if "smoothing" in active:
        record.update(_smooth(scan, streams["smoothing"], variety))
    if "density" in active:
        remesh = _remesh(scan, streams["density"], variety)
        remesh.pop("vertex_factor", None)
        record.update(remesh)
    if "units" in active:
        record.update(_units(scan, streams["units"], variety))
    record["vertices"] = [mesh.n_vertices, scan.n_vertices]
    record["vertices_removed"] = int(removed)
    record["landmarks_moved"] = sorted(scan.moved)

    metadata = dict(mesh.metadata)
    if not active:
        return dataclasses.replace(mesh, metadata=metadata), _rounded_record(record)
    # vertex numbers change as vertices go, so the generator's lists no longer hold
    metadata.pop(MOUTH_INTERIOR_KEY, None)
    metadata.pop(EYE_SURFACE_KEY, None)
    if anchors is not None and "landmark_indices" in metadata:
        metadata["landmark_indices"] = scan.anchors.copy()
    out = dataclasses.replace(
        mesh,
        vertices=scan.vertices,
        polygon_offsets=scan.offsets,
        polygon_indices=scan.indices,
        uv=scan.uv,
        uv_indices=scan.uv_indices,
        vertex_colors=scan.colours,
        landmarks=scan.landmarks if anchors is not None else mesh.landmarks,
        metadata=metadata,
    )
    out.validate()
    return out, _rounded_record(record)


def _rounded_record(value: Any) -> Any:
    """The record with plain Python numbers, floats rounded (JSON-ready, compact)."""
    if isinstance(value, dict):
        return {k: _rounded_record(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded_record(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), _RECORD_DECIMALS) + 0.0
    if isinstance(value, np.integer):
        return int(value)
    return value

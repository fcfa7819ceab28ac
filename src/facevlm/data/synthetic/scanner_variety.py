"""Scanner variety: the ways real scanners and their software make one face into different meshes.

Why: every synthetic face of the generator has the same vertex density, the same clean surface,
the same unbroken border and millimetre coordinates, and a model trained on them can learn those
habits instead of the expressions. Real scans differ in exactly these respects: the scanner's
software decimates or refines the mesh, smooths it more or less, measures it with noise, leaves
holes where it saw nothing (hair, the glint of the eyes, under the chin, grazing surfaces), cuts
the border raggedly, writes centimetres or metres, and the head sits a little turned. This
module applies such degradations to any :class:`~facevlm.data.mesh.FaceMesh`, one knob each, so
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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from facevlm.data.mesh import FaceMesh
from facevlm.data.synthetic.face_openings import (
    EYE_SURFACE_KEY,
    MOUTH_INTERIOR_KEY,
    listed_mask,
    with_mouth_back_wall,
)
from facevlm.render.arrays import area_weighted_normals, border_edges, polygon_edges

#: Millimetres to one unit of each unit a file may be written in (coordinates are divided by it).
UNITS: dict[str, float] = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
#: The knobs, in the order they are applied. Each has a random stream of its own, drawn in
#: this order but the face openings' last (they came later, and drawing them first would have
#: changed every other knob's draws for the same seed).
OPENING_KNOBS = ("mouth_cavity_share", "eye_surface_share")
KNOBS = (
    *OPENING_KNOBS,
    "pose_deg",
    "holes",
    "ragged_border_mm",
    "noise_mm",
    "smoothing",
    "density",
    "units",
)
#: Vertex-count factors allowed for ``density``: below 1/20 a face is no longer a face, above 8
#: the mesh only grows slower to write.
DENSITY_LIMITS = (0.05, 8.0)
#: Taubin's shrink and inflate steps (lambda, mu): one iteration smooths about like one Laplacian
#: step of 0.5 but the surface barely shrinks.
TAUBIN_LAMBDA, TAUBIN_MU = 0.5, -0.53
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
#: Decimals of the floats in the record (the manifest stays compact and stable).
_RECORD_DECIMALS = 4


# ---------------------------------------------------------------------------------- settings
def _pair(value: Any, name: str, cast=float) -> tuple:
    """``value`` as a ``(low, high)`` range: a scalar is a range of one value."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = (value, value)
    try:
        low, high = (cast(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}") from exc
    if not low <= high:
        raise ValueError(f"{name} must have low <= high, got ({low}, {high})")
    return low, high


@dataclass(frozen=True)
class ScannerVariety:
    """How far each scan may differ from the clean face, knob by knob; every knob off by default.

    A range ``(low, high)`` is drawn uniformly per scan (``density`` log-uniformly, so halving
    and doubling are equally likely); a single number is a range of one value.

    Attributes:
        density: relative vertex-count factor of the remeshing: below 1 decimates (vertex
            clustering), above 1 refines (midpoint splits of the longest edges). 1 = off. A mesh
            that is remeshed comes back as triangles.
        smoothing: Taubin smoothing iterations (integers). 0 = off.
        noise_mm: standard deviation (mm) of per-vertex Gaussian noise along the normal.
        holes: expected number of holes per scan (Poisson). 0 = off.
        hole_radius_mm: radius range (mm) of one hole (its outline wobbles by about 15 %).
        hole_clearance_mm: holes and the ragged border keep this far (mm) from every landmark.
            Make it smaller to let holes reach the eyes' glints.
        ragged_border_mm: mean depth (mm) by which the open outer border is eroded, raggedly.
        units: the units a scan may be written in, drawn uniformly: any of ``mm``, ``cm``,
            ``m``. ``("mm",)`` = off.
        pose_deg: standard deviation (degrees) of the angle of a rotation about a uniformly
            random axis through the centroid; the angle is clipped at 3 standard deviations.
        mouth_cavity_share: the share of scans that show a surface behind the lips (the mouth
            interior the generator made, or a plate added where it made none); the others
            show a hole there (the interior removed). ``None`` = off: each face as made.
        eye_surface_share: the share of scans that keep the eyes' surface (the eyeballs the
            generator made); the others show holes between the lids. ``None`` = off.
    """

    density: tuple[float, float] = (1.0, 1.0)
    smoothing: tuple[int, int] = (0, 0)
    noise_mm: tuple[float, float] = (0.0, 0.0)
    holes: float = 0.0
    hole_radius_mm: tuple[float, float] = (3.0, 10.0)
    hole_clearance_mm: float = 10.0
    ragged_border_mm: tuple[float, float] = (0.0, 0.0)
    units: tuple[str, ...] = ("mm",)
    pose_deg: float = 0.0
    mouth_cavity_share: float | None = None
    eye_surface_share: float | None = None

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("density", _pair(self.density, "density"))
        set_("smoothing", _pair(self.smoothing, "smoothing", cast=_integer))
        set_("noise_mm", _pair(self.noise_mm, "noise_mm"))
        set_("hole_radius_mm", _pair(self.hole_radius_mm, "hole_radius_mm"))
        set_("ragged_border_mm", _pair(self.ragged_border_mm, "ragged_border_mm"))
        set_("holes", float(self.holes))
        set_("hole_clearance_mm", float(self.hole_clearance_mm))
        set_("pose_deg", float(self.pose_deg))
        units = (self.units,) if isinstance(self.units, str) else tuple(self.units)
        set_("units", units)

        low, high = DENSITY_LIMITS
        if not low <= self.density[0] <= self.density[1] <= high:
            raise ValueError(f"density must lie in [{low}, {high}], got {self.density}")
        if self.smoothing[0] < 0 or self.smoothing[1] > 1000:
            raise ValueError(f"smoothing iterations must lie in [0, 1000], got {self.smoothing}")
        for name in ("noise_mm", "ragged_border_mm"):
            if getattr(self, name)[0] < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.hole_radius_mm[0] <= 0:
            raise ValueError(f"hole_radius_mm must be positive, got {self.hole_radius_mm}")
        for name in ("holes", "hole_clearance_mm", "pose_deg"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.pose_deg > 30:
            raise ValueError(f"pose_deg is for mild turns (at most 30), got {self.pose_deg}")
        for name in OPENING_KNOBS:
            if getattr(self, name) is not None:
                share = float(getattr(self, name))
                if not 0.0 <= share <= 1.0:
                    raise ValueError(f"{name} must lie in [0, 1], got {share}")
                set_(name, share)
        if not units or any(u not in UNITS for u in units):
            raise ValueError(f"units must be a non-empty choice among {sorted(UNITS)}, got {units}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> ScannerVariety:
        """Build from a parameters dict (YAML lists become ranges); an unknown key is an error,
        so that a typo does not silently leave a knob off."""
        params = dict(params or {})
        unknown = sorted(set(params) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown scanner variety settings {unknown}")
        return cls(**params)

    @property
    def active(self) -> tuple[str, ...]:
        """The knobs that are on, in the order they are applied."""
        on = {
            "mouth_cavity_share": self.mouth_cavity_share is not None,
            "eye_surface_share": self.eye_surface_share is not None,
            "pose_deg": self.pose_deg > 0,
            "holes": self.holes > 0,
            "ragged_border_mm": self.ragged_border_mm[1] > 0,
            "noise_mm": self.noise_mm[1] > 0,
            "smoothing": self.smoothing[1] > 0,
            "density": self.density != (1.0, 1.0),
            "units": self.units != ("mm",),
        }
        return tuple(k for k in KNOBS if on[k])


def _integer(value: Any) -> int:
    if float(value) != int(value):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


# ---------------------------------------------------------------------------------- working copy
@dataclass
class _Scan:
    """The arrays being degraded, plus the landmarks' anchors (see the module docstring)."""

    vertices: np.ndarray
    offsets: np.ndarray
    indices: np.ndarray
    uv: np.ndarray | None
    uv_indices: np.ndarray | None
    colours: np.ndarray | None
    landmarks: np.ndarray | None
    anchors: np.ndarray | None
    moved: set

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    def triangles(self) -> np.ndarray:
        return _fan(self.offsets, self.indices)

    def move_landmarks_with(self, old_vertices: np.ndarray) -> None:
        """After vertices moved in place: each landmark moves as its anchor did."""
        if self.landmarks is not None:
            self.landmarks = self.landmarks + (
                self.vertices[self.anchors] - old_vertices[self.anchors]
            )

    def reanchor(self, new_anchor: np.ndarray, old_position: np.ndarray) -> None:
        """Hand the landmarks to ``new_anchor`` (indices into the current vertices), moving them
        by the step from ``old_position`` (their old anchors' positions) to the new anchor."""
        if self.landmarks is None:
            return
        step = self.vertices[new_anchor] - old_position
        changed = np.flatnonzero(np.any(step != 0, axis=1))
        self.moved.update(int(k) for k in changed)
        self.landmarks = self.landmarks + step
        self.anchors = new_anchor


def _fan(offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-corner ``values`` fan-triangulated into ``(F, 3)`` exactly as :meth:`FaceMesh.triangles`."""
    arity = np.diff(offsets)
    if len(arity) and (arity == 3).all():
        return values.reshape(-1, 3)
    n_tri = arity - 2
    start = np.repeat(offsets[:-1], n_tri)
    k = np.arange(int(n_tri.sum())) - np.repeat(np.cumsum(n_tri) - n_tri, n_tri)
    return np.stack([values[start], values[start + k + 1], values[start + k + 2]], axis=1)


def _adjacency(a: np.ndarray, b: np.ndarray, n: int, points: np.ndarray | None = None):
    """Symmetric sparse ``(n, n)`` matrix of the sides ``(a, b)``: 1 each, or with ``points``
    each side's length."""
    w = np.ones(len(a)) if points is None else np.linalg.norm(points[a] - points[b], axis=1)
    rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    return coo_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n)).tocsr()


def boundary_loops(mesh: FaceMesh) -> np.ndarray:
    """Lengths (in the mesh's units) of the open borders, one per connected border, longest
    first: a clean face mask has its outer border (and here the eye and mouth openings); every
    hole adds one."""
    edges = border_edges(mesh.polygon_offsets, mesh.polygon_indices, mesh.n_vertices)
    return _loop_lengths(mesh.vertices, edges)[0]


def _loop_lengths(vertices: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the connected borders made of ``edges`` (longest first) and each vertex's
    border label (-1 off the border), labels numbered in the same order as the lengths."""
    n = len(vertices)
    labels = np.full(n, -1, dtype=np.int64)
    if len(edges) == 0:
        return np.zeros(0), labels
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    on_border = np.unique(edges)
    ids, local = np.unique(component[on_border], return_inverse=True)
    sums = np.bincount(local[np.searchsorted(on_border, edges[:, 0])], length, len(ids))
    order = np.argsort(-sums, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels[on_border] = rank[local]
    return sums[order], labels


def _landmark_anchors(mesh: FaceMesh) -> np.ndarray | None:
    if mesh.landmarks is None or len(mesh.landmarks) == 0:
        return None
    named = mesh.metadata.get("landmark_indices")
    if named is not None:
        named = np.asarray(named, dtype=np.int64).ravel()
        if (
            len(named) == len(mesh.landmarks)
            and named.min() >= 0
            and named.max() < len(mesh.vertices)
        ):
            return named
    used = np.flatnonzero(np.bincount(mesh.polygon_indices, minlength=len(mesh.vertices)))
    tree = cKDTree(mesh.vertices[used], balanced_tree=False, compact_nodes=False)
    return used[tree.query(mesh.landmarks)[1]]


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


# ---------------------------------------------------------------------------------- stages
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


def _vertex_normals_and_areas(scan: _Scan) -> tuple[np.ndarray, np.ndarray]:
    tri = scan.triangles()
    v = scan.vertices
    normals = area_weighted_normals(v, tri)
    area = 0.5 * np.linalg.norm(np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]]),
                                axis=1)  # fmt: skip
    return normals, np.bincount(tri.ravel(), np.repeat(area / 3.0, 3), len(v))


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


def _remove_vertices(scan: _Scan, remove: np.ndarray) -> int:
    """Drop the polygons that touch a removed vertex and everything no polygon uses any more;
    landmarks whose anchor went move to the nearest kept vertex. Returns vertices dropped."""
    if not remove.any():
        return 0
    arity = np.diff(scan.offsets)
    bad = np.add.reduceat(remove[scan.indices].astype(np.int64), scan.offsets[:-1]) > 0
    keep_corner = np.repeat(~bad, arity)
    offsets = np.concatenate([[0], np.cumsum(arity[~bad])]).astype(np.int64)
    before = scan.n_vertices
    _compact(scan, offsets, scan.indices[keep_corner],
             None if scan.uv_indices is None else scan.uv_indices[keep_corner])  # fmt: skip
    return before - scan.n_vertices


def _compact(
    scan: _Scan,
    offsets: np.ndarray,
    indices: np.ndarray,
    uv_indices: np.ndarray | None,
    anchor_map: np.ndarray | None = None,
) -> None:
    """Install new polygons and keep only the vertices (and UVs) they use. ``anchor_map`` hands
    each old vertex to another (decimation); otherwise a lost anchor goes to the nearest kept
    vertex."""
    used = np.zeros(scan.n_vertices, dtype=bool)
    used[indices] = True
    new_index = np.cumsum(used) - 1
    old_vertices = scan.vertices
    if scan.landmarks is not None:
        anchors = scan.anchors if anchor_map is None else anchor_map[scan.anchors]
        lost = ~used[anchors]
        if lost.any():
            kept = np.flatnonzero(used)
            anchors = anchors.copy()
            anchors[lost] = kept[cKDTree(old_vertices[kept]).query(old_vertices[anchors[lost]])[1]]
        old_position = old_vertices[scan.anchors]
    scan.vertices = old_vertices[used]
    scan.offsets = offsets
    scan.indices = new_index[indices]
    if scan.colours is not None:
        scan.colours = scan.colours[used]
    if scan.uv is not None:
        if scan.uv_indices is None:
            scan.uv = scan.uv[used]
        else:
            uv_used = np.zeros(len(scan.uv), dtype=bool)
            uv_used[uv_indices] = True
            scan.uv = scan.uv[uv_used]
            scan.uv_indices = (np.cumsum(uv_used) - 1)[uv_indices]
    if scan.landmarks is not None:
        scan.reanchor(new_index[anchors], old_position)


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


def _remesh(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    low, high = variety.density
    factor = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    if low == high:
        factor = low
    if factor == 1.0:
        return {"density": 1.0}
    before = scan.n_vertices
    if factor < 1.0:
        _decimate(scan, factor)
    else:
        _subdivide(scan, factor)
    return {"density": factor, "vertex_factor": scan.n_vertices / before}


def _triangulated(scan: _Scan) -> tuple[np.ndarray, np.ndarray | None]:
    tri = scan.triangles()
    tri_uv = None if scan.uv_indices is None else _fan(scan.offsets, scan.uv_indices)
    return tri, tri_uv


def _clusters(v: np.ndarray, edges: np.ndarray, cell: float) -> tuple[int, np.ndarray]:
    """Vertex clusters: vertices in one grid cell *and* joined by mesh edges inside it, so that
    surfaces that only pass close by (the two lips, an eyelid and the eyeball behind it) are
    never merged."""
    grid = np.floor((v - v.min(axis=0)) / cell).astype(np.int64)
    size = grid.max(axis=0) + 1
    key = (grid[:, 0] * size[1] + grid[:, 1]) * size[2] + grid[:, 2]
    same = key[edges[:, 0]] == key[edges[:, 1]]
    n = len(v)
    graph = coo_matrix((np.ones(int(same.sum())), (edges[same, 0], edges[same, 1])), shape=(n, n))
    return connected_components(graph, directed=False)


def _decimate(scan: _Scan, factor: float) -> None:
    """Vertex clustering on a grid whose cell is tuned to reach ``factor`` of the vertices.

    Each cluster keeps one of its own vertices (so its UVs and colour stay exact), preferring a
    texture-seam vertex (it has the UVs of both sides, so no triangle stretches across the
    atlas), then a landmark anchor, then the vertex nearest the cluster's centroid.
    """
    tri, tri_uv = _triangulated(scan)
    v = scan.vertices
    used = np.zeros(len(v), dtype=bool)
    used[tri] = True
    n_used = int(used.sum())
    target = max(4, int(round(factor * n_used)))
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    area = 0.5 * np.linalg.norm(np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]]),
                                axis=1).sum()  # fmt: skip
    # clusters ~ cell ** -slope: start from slope 2 (a surface), then the secant in log-log
    cell, slope, previous = np.sqrt(area / target), 2.0, None
    best = None
    for _ in range(8):
        n_labels, labels = _clusters(v, edges, cell)
        count = n_labels - (len(v) - n_used)  # an unused vertex is a cluster of its own
        if best is None or abs(count - target) < abs(best[0] - target):
            best = (count, labels)
        if abs(count - target) <= 0.01 * target:
            break
        if previous is not None and previous[1] != count and previous[0] != cell:
            slope = np.clip(-np.log(count / previous[1]) / np.log(cell / previous[0]), 0.5, 4.0)
        previous = (cell, count)
        cell *= (count / target) ** (1.0 / slope)
    _, labels = best

    priority = np.zeros(len(v), dtype=np.int64)
    if scan.landmarks is not None:
        priority[scan.anchors] = 1
    pair_vertex = pair_uv = None
    if tri_uv is not None:
        n_uv = np.int64(len(scan.uv))
        pairs = np.unique(tri.ravel() * n_uv + tri_uv.ravel())
        pair_vertex, pair_uv = pairs // n_uv, pairs % n_uv
        uv_count = np.bincount(pair_vertex, minlength=len(v))
        priority[uv_count > 1] = 2
    n_labels = int(labels.max()) + 1
    centroid = np.stack([np.bincount(labels, v[:, k], n_labels) for k in range(3)], axis=1)
    centroid /= np.bincount(labels, minlength=n_labels)[:, None]
    distance = np.linalg.norm(v - centroid[labels], axis=1)
    order = np.lexsort((distance, -priority, labels))
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    representative_of = np.empty(n_labels, dtype=np.int64)
    representative_of[labels[order][first]] = order[first]
    rep = representative_of[labels]

    new_tri = rep[tri]
    keep = (
        (new_tri[:, 0] != new_tri[:, 1])
        & (new_tri[:, 1] != new_tri[:, 2])
        & (new_tri[:, 0] != new_tri[:, 2])
    )
    rows = _distinct_triangles(new_tri, np.flatnonzero(keep), len(v))
    new_uv = None
    if tri_uv is not None:
        # each corner takes the representative's UV nearest its own: the same side of a seam
        corner_vertex = rep[tri[rows]].ravel()
        corner_uv = scan.uv[tri_uv[rows].ravel()]
        start = np.searchsorted(pair_vertex, corner_vertex)
        count = uv_count[corner_vertex]
        best_pair = start.copy()
        best_gap = np.linalg.norm(scan.uv[pair_uv[start]] - corner_uv, axis=1)
        for k in range(1, int(count.max())):
            has = count > k
            gap = np.full(len(start), np.inf)
            gap[has] = np.linalg.norm(scan.uv[pair_uv[start[has] + k]] - corner_uv[has], axis=1)
            better = gap < best_gap
            best_pair[better] = start[better] + k
            best_gap[better] = gap[better]
        new_uv = pair_uv[best_pair]
    offsets = np.arange(0, 3 * len(rows) + 1, 3, dtype=np.int64)
    _compact(scan, offsets, new_tri[rows].ravel(), new_uv, anchor_map=rep)


def _distinct_triangles(tri: np.ndarray, rows: np.ndarray, n_vertices: int) -> np.ndarray:
    """``rows`` of ``tri`` less repeats: of triangles with the same corners in the same turning
    order the first is kept; a pair in opposite orders (a fold of the collapsed surface, two
    faces back to back) is dropped both."""
    t = tri[rows]
    first = t.argmin(axis=1)
    turned = np.stack([t[np.arange(len(t)), (first + k) % 3] for k in range(3)], axis=1)
    n = np.int64(n_vertices)
    oriented = (turned[:, 0] * n + turned[:, 1]) * n + turned[:, 2]
    _, first_row = np.unique(oriented, return_index=True)
    rows, turned = rows[np.sort(first_row)], turned[np.sort(first_row)]
    # keeping one face of a fold would leave its neighbours' edges open (small holes)
    triple = np.sort(turned, axis=1)
    _, inverse, counts = np.unique((triple[:, 0] * n + triple[:, 1]) * n + triple[:, 2],
                                   return_inverse=True, return_counts=True)  # fmt: skip
    return rows[counts[inverse.ravel()] == 1]


def _split_templates(c: np.ndarray, m: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Triangles of each triangle with corners ``c`` (F, 3) whose sides ``k`` (corner k to
    k + 1) are split at ``m[:, k]`` where ``split[:, k]``: one, two or four triangles, the
    orientation kept and neighbours sharing every new vertex, so there are no cracks."""
    n_split = split.sum(axis=1)
    out = [c[n_split == 0]]
    one = np.flatnonzero(n_split == 1)
    if len(one):  # rotate so that the split side is side 0
        r = split[one].argmax(axis=1)
        cc = np.stack([c[one, (r + i) % 3] for i in range(3)], axis=1)
        m0 = m[one, r]
        out += [np.stack([cc[:, 0], m0, cc[:, 2]], 1), np.stack([m0, cc[:, 1], cc[:, 2]], 1)]
    two = np.flatnonzero(n_split == 2)
    if len(two):  # rotate so that the unsplit side is side 2
        r = ((~split[two]).argmax(axis=1) + 1) % 3
        cc = np.stack([c[two, (r + i) % 3] for i in range(3)], axis=1)
        mm = np.stack([m[two, (r + i) % 3] for i in range(2)], axis=1)
        out += [
            np.stack([mm[:, 0], cc[:, 1], mm[:, 1]], 1),
            np.stack([cc[:, 0], mm[:, 0], mm[:, 1]], 1),
            np.stack([cc[:, 0], mm[:, 1], cc[:, 2]], 1),
        ]
    three = np.flatnonzero(n_split == 3)
    if len(three):
        cc, mm = c[three], m[three]
        out += [
            np.stack([cc[:, 0], mm[:, 0], mm[:, 2]], 1),
            np.stack([mm[:, 0], cc[:, 1], mm[:, 1]], 1),
            np.stack([mm[:, 2], mm[:, 1], cc[:, 2]], 1),
            np.stack([mm[:, 0], mm[:, 1], mm[:, 2]], 1),
        ]
    return np.concatenate(out)


def _subdivide(scan: _Scan, factor: float) -> None:
    """Split the longest edges at their midpoints until there are ``factor`` times the vertices
    (a pass splits at most every edge; up to four passes). Every old vertex keeps its place and
    its index; a new one lies on the curved surface through its edge's ends (see below), as a
    scanner's finer sampling of the same face would."""
    target = int(round(factor * scan.n_vertices))
    for _ in range(4):
        if scan.n_vertices >= target:
            break
        _split_longest_edges(scan, target - scan.n_vertices)


def _split_longest_edges(scan: _Scan, n_new: int) -> None:
    tri, tri_uv = _triangulated(scan)
    v = scan.vertices
    n = np.int64(len(v))
    sides = np.stack([tri, np.roll(tri, -1, axis=1)], axis=-1)  # (F, 3, 2): corner k to k + 1
    keys = sides.min(axis=-1) * n + sides.max(axis=-1)
    edge_keys, edge_of_side = np.unique(keys, return_inverse=True)
    edge_of_side = edge_of_side.reshape(tri.shape)
    a, b = edge_keys // n, edge_keys % n
    length = np.linalg.norm(v[a] - v[b], axis=1)
    if n_new >= len(edge_keys):
        split_edge = np.ones(len(edge_keys), dtype=bool)
    else:
        split_edge = np.zeros(len(edge_keys), dtype=bool)
        split_edge[np.argpartition(-length, n_new)[:n_new]] = True
    midpoint = np.full(len(edge_keys), -1, dtype=np.int64)
    ids = np.flatnonzero(split_edge)
    midpoint[ids] = n + np.arange(len(ids))
    split = split_edge[edge_of_side]
    # the midpoint of the edge's curve in a PN triangle (cubic, from the end normals), not of
    # the straight edge: a finer scan samples the curved face, and flat midpoints would shade
    # as facets
    normals = area_weighted_normals(v, tri)
    na, nb = normals[a[ids]], normals[b[ids]]
    edge = v[b[ids]] - v[a[ids]]
    bulge = (np.einsum("ij,ij->i", edge, na)[:, None] * na
             - np.einsum("ij,ij->i", edge, nb)[:, None] * nb) / 8.0  # fmt: skip
    scan.vertices = np.concatenate([v, 0.5 * (v[a[ids]] + v[b[ids]]) - bulge])
    if scan.colours is not None:
        mean = (scan.colours[a[ids]].astype(np.int64) + scan.colours[b[ids]] + 1) // 2
        scan.colours = np.concatenate([scan.colours, mean.astype(np.uint8)])
    new_tri = _split_templates(tri, midpoint[edge_of_side], split)
    new_uv_tri = None
    if scan.uv is not None and scan.uv_indices is None:
        scan.uv = np.concatenate([scan.uv, 0.5 * (scan.uv[a[ids]] + scan.uv[b[ids]])])
    elif scan.uv is not None:
        # one new UV per split side and pair of corner UVs: a side on a texture seam gets one
        # UV per side of the seam, the two halves' means
        n_uv = np.int64(len(scan.uv))
        uv_sides = np.stack([tri_uv, np.roll(tri_uv, -1, axis=1)], axis=-1)
        lo, hi = uv_sides.min(axis=-1), uv_sides.max(axis=-1)
        pair_keys = (edge_of_side * n_uv + lo) * n_uv + hi
        unique_pairs, uv_of_side = np.unique(pair_keys[split], return_inverse=True)
        pair_lo = (unique_pairs // n_uv) % n_uv
        pair_hi = unique_pairs % n_uv
        side_uv = np.full(tri.shape, -1, dtype=np.int64)
        side_uv[split] = n_uv + uv_of_side.ravel()
        scan.uv = np.concatenate([scan.uv, 0.5 * (scan.uv[pair_lo] + scan.uv[pair_hi])])
        new_uv_tri = _split_templates(tri_uv, side_uv, split)
    scan.offsets = np.arange(0, 3 * len(new_tri) + 1, 3, dtype=np.int64)
    scan.indices = new_tri.ravel()
    scan.uv_indices = None if new_uv_tri is None else new_uv_tri.ravel()


def _units(scan: _Scan, rng: np.random.Generator, variety: ScannerVariety) -> dict:
    unit = variety.units[int(rng.integers(len(variety.units)))]
    if unit != "mm":
        scan.vertices = scan.vertices / UNITS[unit]
        if scan.landmarks is not None:
            scan.landmarks = scan.landmarks / UNITS[unit]
    return {"unit": unit}


# ---------------------------------------------------------------------------------- entry point
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

"""Where the face of a scan is and which way it looks, whatever the scan's axes, units and crop;
and no face at all refused.

Why: the renderer draws a scan face-forward only if the scan arrives looking along +z with y
up, cropped to the face. Real databases store their scans in their own frames (a structured-light
capture lying on its side, a Kinect head with neck and shoulders in metres), and a model trained
on face-forward renders predicts nonsense from a sideways head or a ball. So every scan is
registered to a mean face first (:mod:`.face_template`, from real people) and rendered in the
frame of that fit.

How (a classical, deterministic registration; no learned detector, so nothing to download and
nothing that depends on the scan's texture):

1. **Units.** A face is 80-700 mm across whatever the crop (a face mask ~200 mm, a head with
   shoulders ~600 mm). The template is tried at the size of a real face in every unit
   (mm, cm, m, inch) that puts the scan's robust extent in that range; when none does
   (normalised or arbitrary units), at the sizes of a face crop and of a head filling the scan.
2. **Multi-start registration.** Starting rotations spread uniformly over all orientations
   (:data:`N_ROTATIONS`, a super-Fibonacci set), each with the template's nose tip on the
   scan's most forward point in that orientation, are all refined at once by a few steps of
   trimmed point-to-plane similarity ICP on a small subset of the template (template to scan:
   a scan's extra head, neck and shoulders do not pull the face, and trimming the worst
   :data:`TRIM` of the pairs lets holes, a partial forehead and an open mouth go; a pair
   that ends on the scan's open border, where the scan stops short of the template, is
   dropped too). Each stage keeps the best distinct fits by coverage for more, finer steps
   (the coarse stages search the scan approximately: they only sort the promising starts out).
3. **Score and choice.** The share of the template that lies on the scan (within
   :data:`MATCH_MM` of the scan's surface, with agreeing normals), over the whole template and
   over its central face (eyes, nose, mouth: the part that no ball, box, cylinder or plane
   imitates). The final fits are ranked by the sum of the two plus a say of the scan's own
   nose profile on which way up the face is (:func:`_nose_step`: an oval face crop covers the
   template about as well upside down, but its nose still slopes gently above the tip and
   steps back sharply below it). The chosen fit is refined to convergence, also from 15 mm
   above and below it (a face unlike the template in its proportions has several stable
   fits along its height), and the fits that score about as well are blended
   (:func:`_polish`).
4. **Face or not.** A fit whose central coverage falls below :data:`MIN_CENTRAL` (unless
   its eyes and nose alone match :data:`MIN_EYES_NOSE` of the template's: a face whose mouth
   and chin are lost to a hole or a cut), whose precision (the share of the scan inside the face box that lies on the template: a random
   cloud of points covers the template but is mostly off it) falls below
   :data:`MIN_PRECISION`, or whose scan has too little relief (a face's nose, eye sockets and
   mouth stand out of a smooth base; a lump that matches the template's coarse shape has
   little, and little of the surface around it lies on the face: :func:`_relief`,
   :data:`MIN_RELIEF_MM`) is no face: :class:`NotAFaceError`.

The result, :class:`FacePose`, maps the scan into the canonical face frame: the face box (as
BU-3DFE's crops and the built-in set fill the image, :data:`FRAME_OFFSET_MM`,
:data:`FRAME_RADIUS_MM`) at the origin with radius 1, the face looking along +z, y up.
Measured accuracy, separation and cost: ``benchmarks/canonical_pose.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from facevlm.data.errors import ScanError
from facevlm.data.mesh import FaceMesh
from facevlm.render.arrays import area_weighted_normals, border_edges
from facevlm.render.face_template import FaceTemplate, load_template
from facevlm.render.normalize import Normalization

#: Bumped whenever the estimate can change for the same scan (render caches key on it).
ALGORITHM_VERSION = 5
#: ``render.pose`` values: estimate the pose, or take the scan's axes as they are stored.
POSE_MODES = ("estimate", "as_stored")

#: A face (or a head with shoulders) is this many millimetres across (robust extent).
FACE_EXTENT_MM = (80.0, 700.0)
#: Typical robust extent of a face scan; breaks ties between units that both fit.
TYPICAL_EXTENT_MM = 220.0
#: Millimetres per unit of the units a scanner writes.
UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "inch": 25.4}
#: Starting rotations, uniform over all orientations.
N_ROTATIONS = 120
#: How many of the best guesses are also tried upside down (turned 180 degrees about the
#: face's forward axis): an oval face crop fits upside down nearly as well as upright after a
#: few coarse steps, and the eyes and mouth only tell them apart once the fit is finer.
N_UPSIDE_DOWN = (6, 2)  # entering the second and the third stage
#: The front of a face in a first guess: what lies this far (mm) behind the most forward point.
FRONT_DEPTH_MM = 70.0
#: Share of the template's pairs kept by each ICP step (the rest: holes, hair, open mouth),
#: and by the last stage's: more pairs there hold the face's position where a face differs
#: in shape from the template (trimming a quarter lets the fit slide along the face).
TRIM, FINAL_TRIM = 0.75, 0.9
#: Successive halving: (starts kept, template points, ICP iterations, trim, search
#: tolerance) per stage; the starts kept are the best distinct ones by coverage so far. Cheap
#: steps for all, more for the promising few. The first stage's points decide which starts go
#: on: with 20 a whole head could lose its true start to a fit on the cranium whose 20 points
#: happened to match. The search tolerance is how approximate a stage's nearest-point
#: searches may be (a point found may be up to 1 + this times as far as the nearest,
#: ``cKDTree.query``'s ``eps``): the coarse stages only sort the promising starts out, and
#: approximate search halves their time; the last stage and every score search exactly.
STAGES = (
    (10_000, 40, 3, TRIM, 1.0),
    (24, 100, 8, TRIM, 0.5),
    (3, 400, 10, FINAL_TRIM, 0.0),
)
#: Two fits this close (degrees, share of the face box radius) are the same fit: a stage
#: keeps only one of them (:func:`_distinct`).
SAME_FIT = (5.0, 0.05)
#: More steps of the last stage for the one fit chosen (see :func:`fit_face_pose`).
POLISH_ITERATIONS = 12
#: ... also started this far (mm at the template's size) above and below the chosen fit along
#: the face's height, where a face unlike the template in its proportions has other stable
#: fits (:func:`_polish`).
VALLEY_MM = (15.0,)
#: Of those fits and the last stage's, the ones that are the same fit as the chosen one but
#: for where along the valley they lie (``BLEND_SAME``: turned less than its degrees from it,
#: shifted less than its share of the face box, sized within its ratio) and score within
#: ``BLEND_SCORE`` of the best of them (coverage plus central coverage) are blended, each
#: weighted by how far it stands above that mark: the scores of a face's stable fits differ
#: by a few hundredths, about what noise and holes change them by.
BLEND_SCORE = 0.05
BLEND_SAME = (10.0, 0.3, 1.2)
#: Scan points the fit uses at most (a uniform subsample of a dense scan is as good, and fast).
SCAN_POINTS = 4000
#: Scan points within this many point spacings of the scan's open border take no part in the
#: fit's pairs (see :func:`_near_border`); a mesh whose border holds more than
#: ``BORDER_SOUP`` of its vertices is a soup of loose triangles and has none.
BORDER_REACH = 1.0
BORDER_SOUP = 0.5
#: Template points farther than this from the scan (mm at the face's size) pull on nothing.
REACH_MM = 40.0
#: The fitted face may be this much smaller or larger than the template's size in its units.
SCALE_RANGE = (0.6, 1.35)
#: A template point lies on the scan when a scan point is this close (mm, at the face's size)
#: and their normals agree within ``MATCH_ANGLE_DEG``.
MATCH_MM = 5.0
MATCH_ANGLE_DEG = 35.0
#: Half-width of the central face (mm): the eyes' outer corners are ~45 mm from the midline.
CENTRAL_HALF_WIDTH_MM = 45.0
#: The central face reaches from this far below the nose tip (the chin) to this far above it.
CENTRAL_BELOW_NOSE_MM = -75.0
CENTRAL_ABOVE_NOSE_MM = 45.0
#: Scan points within this many face radii of the face centre count for the precision score.
PRECISION_RADIUS = 0.8
#: The nose profile (:func:`_nose_step`): the tip is looked for within this half-width and
#: half-height (mm) of the fitted face centre, the profile along a strip this half-wide
#: through it, in these bands of height above and below the tip (mm): below the tip the
#: profile has stepped back to the upper lip by 10-15 mm, where the bridge above has fallen
#: 5-10 mm; further out (the lips, the nasion) real faces differ too much to tell.
NOSE_WINDOW_MM = (30.0, 90.0)
PROFILE_HALF_WIDTH_MM = 5.0
PROFILE_BANDS_MM = ((4.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 20.0))
#: The profile reads at most this many of the scan's vertices (a millimetre apart on a face
#: and head; more only costs time).
PROFILE_POINTS = 60_000
#: How much the nose profile weighs in choosing among the final fits: a fit gains up to
#: ``UPRIGHT_WEIGHT`` (and its upside-down twin loses as much) on the coverage score, reached
#: at a step of ``UPRIGHT_MM``. Enough to overturn the few hundredths by which an oval face
#: crop's upside-down fit may out-cover its upright one, far too little to overturn the
#: tenths by which a wrong fit of a real face loses.
UPRIGHT_WEIGHT, UPRIGHT_MM = 0.2, 16.0
#: An edge this many times the median edge marks a spike (:func:`_on_long_edges`).
SPIKE_EDGES = 6.0
#: The relief test (:func:`_relief`) looks at the central face from this far below the
#: template's nose tip (the mouth; a chin's curve is smooth) to its top.
RELIEF_BELOW_NOSE_MM = -60.0
#: ... counting one point per square of this side (mm) of the face's area.
RELIEF_CELL_MM = 3.0
#: Below these scores there is no face. Chosen between the faces' and the non-faces' central
#: coverage as ``benchmarks/canonical_pose.py`` prints them (docs/benchmarks.md, "Face pose"):
#: the margin is thin on the non-face side, a cylinder or a lumpy blob matches the cheeks and
#: forehead of a face and only the eyes and nose tell (a blob may pass: the relief test below
#: is what refuses it).
MIN_CENTRAL = 0.41
MIN_PRECISION = 0.5
#: ... unless the eyes and nose alone (the central face above this far below the nose tip: the
#: part an expression moves least) match this well: a face whose mouth and chin are lost to a
#: hole or a cut still has them, where no smooth shape matches more than 0.34 of them
#: (faces' 5th percentile 0.45; ``benchmarks/canonical_pose.py``).
EYES_NOSE_BELOW_NOSE_MM = -20.0
MIN_EYES_NOSE = 0.45
#: Below this relief (mm, :func:`_relief`), counted in proportion to the precision (the
#: relief of a shape whose surroundings lie on a face), there is no face. Faces, damaged ones
#: included, mostly score 2.4 or more (precision mostly above 0.9), a shallow procedural
#: crop now and then less (one in 900 refused at 1.8), the lumpy blobs that pass the coverage
#: tests 1.3 at most (their lumps give up to 2.1 mm of relief, but most of the surface around
#: them is off the face) (``benchmarks/canonical_pose.py``).
MIN_RELIEF_MM = 1.9
#: The canonical framing, in the template's millimetres: the face box centre (from the
#: template's own centre) and radius. The face is framed as the built-in set and BU-3DFE's
#: crops fill the image (forehead to chin, ear to ear): measured by fitting the template to 16
#: built-in faces as they are stored, whose robust sphere lies 11.5 mm (sd 4.0) above and
#: 3.1 mm (sd 2.9) behind the template's centre with a radius of 111.4 mm (sd 5.3)
#: (``benchmarks/canonical_pose.py`` prints it), so a built-in face renders as it did before
#: the pose was estimated.
FRAME_OFFSET_MM = np.array([0.0, 11.5, -3.1])
FRAME_RADIUS_MM = 111.4
#: "Face-forward" differs between face sources by a few degrees of pitch (where a face looks
#: when it looks straight ahead); the built-in faces, modelled on BU-3DFE's crops, look 3.3
#: degrees (sd 0.8) further up than the template does, so the canonical frame is the template's
#: turned by this pitch about its x axis (measured like the framing above).
FRAME_PITCH_DEG = 3.3


class NotAFaceError(ScanError):
    """A mesh on which no face could be found (a ball, a box, a hand): refused, not classified."""


@dataclass(frozen=True)
class FacePose:
    """The rigid pose of the face in a scan: canonical = ``rotation.T @ (p - centre) / radius``.

    Attributes:
        rotation: ``(3, 3)``, columns = the face's right (+x), up (+y) and forward (+z) axes in
            the scan's coordinates.
        centre: ``(3,)`` the face box centre, scan units.
        radius: the face box radius, scan units.
        mm_per_unit: the scan's units as the fit found them (1 = millimetres).
        coverage, central, precision: the fit's scores (see the module docstring): the share
            of the template on the scan, of its eyes, nose and mouth, and of the scan around
            the face on the template; 1.0 for a stored pose.
        eyes_nose: the share of the template's eyes and nose on the scan (its central face
            without the mouth and chin); 1.0 for a stored pose.
        relief: how far (mm at the template's size) the scan's central face departs from a
            smooth surface (:func:`_relief`); 0.0 for a stored pose.
        estimated: False for ``as_stored`` (the scan's own axes, framed by its robust sphere).
    """

    rotation: np.ndarray
    centre: np.ndarray
    radius: float
    mm_per_unit: float = 1.0
    coverage: float = 1.0
    central: float = 1.0
    precision: float = 1.0
    relief: float = 0.0
    estimated: bool = True
    eyes_nose: float = 1.0

    @property
    def confidence(self) -> float:
        """How sure the fit is, 0-1: the lower of its central coverage and precision."""
        return float(min(self.central, self.precision))

    def normalization(self) -> Normalization:
        return Normalization(centre=self.centre, radius=self.radius, rotation=self.rotation)

    def to_json(self) -> str:
        """A compact record for the scan index and the render cache key."""
        return json.dumps(
            {
                "rotation": np.round(self.rotation, 6).tolist(),
                "centre": np.round(self.centre, 6).tolist(),
                "radius": round(float(self.radius), 6),
                "mm_per_unit": round(float(self.mm_per_unit), 6),
                "coverage": round(float(self.coverage), 4),
                "central": round(float(self.central), 4),
                "precision": round(float(self.precision), 4),
                "relief": round(float(self.relief), 3),
                "eyes_nose": round(float(self.eyes_nose), 4),
                "estimated": bool(self.estimated),
                "version": ALGORITHM_VERSION,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> FacePose:
        data = json.loads(text) if isinstance(text, str) else dict(text)
        return cls(
            rotation=np.asarray(data["rotation"], dtype=np.float64),
            centre=np.asarray(data["centre"], dtype=np.float64),
            radius=float(data["radius"]),
            mm_per_unit=float(data.get("mm_per_unit", 1.0)),
            coverage=float(data.get("coverage", 1.0)),
            central=float(data.get("central", 1.0)),
            precision=float(data.get("precision", 1.0)),
            relief=float(data.get("relief", 0.0)),
            eyes_nose=float(data.get("eyes_nose", 1.0)),
            estimated=bool(data.get("estimated", True)),
        )


# ------------------------------------------------------------------------------ geometry
def rotation_starts(n: int = N_ROTATIONS) -> np.ndarray:
    """``(n, 3, 3)`` rotations spread uniformly over all orientations (super-Fibonacci spiral,
    Alexa 2022): deterministic, and no orientation is far from one of them."""
    phi, psi = np.sqrt(2.0), 1.533751168755204288118041
    s = np.arange(n) + 0.5
    r, big_r = np.sqrt(s / n), np.sqrt(1.0 - s / n)
    alpha, beta = 2 * np.pi * s / phi, 2 * np.pi * s / psi
    q = np.stack([r * np.sin(alpha), r * np.cos(alpha), big_r * np.sin(beta), big_r * np.cos(beta)])
    return _quaternion_matrices(q.T)


def _quaternion_matrices(q: np.ndarray) -> np.ndarray:
    x, y, z, w = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _rotation_vectors(w: np.ndarray) -> np.ndarray:
    """``(B, 3, 3)`` rotation matrices of ``(B, 3)`` rotation vectors (Rodrigues)."""
    theta = np.linalg.norm(w, axis=1)
    k = w / np.maximum(theta, 1e-12)[:, None]
    zero = np.zeros(len(w))
    cross = np.stack(
        [
            np.stack([zero, -k[:, 2], k[:, 1]], -1),
            np.stack([k[:, 2], zero, -k[:, 0]], -1),
            np.stack([-k[:, 1], k[:, 0], zero], -1),
        ],
        axis=1,
    )
    sin, cos = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def x_rotation(degrees: float) -> np.ndarray:
    """The rotation by ``degrees`` about the x axis (a face's pitch: positive looks up)."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """The angle of the rotation between two rotation matrices, degrees."""
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


@dataclass
class _Scan:
    """The scan as the fit sees it: a subsample of its surface points with unit normals."""

    points: np.ndarray
    normals: np.ndarray
    points_normals: np.ndarray  # the two side by side, ``(M, 6)``: one gather fetches both
    tree: cKDTree
    spacing: float  # median distance between neighbouring points
    #: points at the scan's open border (its crop edge, a hole's rim, a cut forehead): a
    #: template point whose nearest scan point lies there has no counterpart on the scan
    border: np.ndarray
    #: every vertex with a usable normal that is no spike, and its normal: the nose profile
    #: (:func:`_nose_step`) needs the scan's full density along a narrow strip, and the
    #: relief (:func:`_relief`) an even sampling of the face's area
    dense: np.ndarray
    dense_normals: np.ndarray


def _scan_surface(vertices: np.ndarray, triangles: np.ndarray) -> _Scan:
    """The fit's view of the scan; normals face away from its centre, whichever way its
    triangles are wound (as :func:`~facevlm.render.surface_motion.vertex_normals` does), so
    that a fit to the back of a thin face crop, which has the same shape as its front (a face
    is left-right symmetric), does not count: the template's normals point out of the face."""
    normals = area_weighted_normals(vertices, triangles)
    if np.einsum("ij,ij->", normals, vertices - vertices.mean(axis=0)) < 0:
        normals = -normals
    usable = np.flatnonzero(np.einsum("ij,ij->i", normals, normals) > 0.25)
    used = usable  # the fit's subsample of them
    if len(used) > SCAN_POINTS:
        used = np.sort(np.random.default_rng(0).choice(used, SCAN_POINTS, replace=False))
    points = vertices[used]
    tree = cKDTree(points)
    spacing = float(np.median(tree.query(points[:500], k=2)[0][:, 1])) if len(points) > 1 else 0.0
    border = _near_border(vertices, triangles, points, spacing)
    dense = usable[~_on_long_edges(vertices, triangles)[usable]]
    pairs = np.concatenate([points, normals[used]], axis=1)
    return _Scan(
        points,
        normals[used],
        pairs,
        tree,
        spacing,
        border,
        vertices[dense],
        normals[dense],
    )


def _on_long_edges(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Which vertices end an edge many times longer than the mesh's typical edge: a scanner's
    spike (a vertex thrown far off the surface) and its neighbours. The nose profile and the
    relief test look for the most forward point and for departures from a smooth surface,
    which one spike would spoil; losing a few genuine vertices at a long edge costs nothing."""
    spiky = np.zeros(len(vertices), dtype=bool)
    if len(triangles) == 0:
        return spiky
    # two sides of each triangle reach every vertex of it; coordinate by coordinate, as
    # gathering whole rows of a large mesh costs several times more
    columns = vertices.T.copy()
    squared = [np.zeros(len(triangles)), np.zeros(len(triangles))]
    for axis in range(3):
        for side, (a, b) in enumerate(((0, 1), (1, 2))):
            step = columns[axis][triangles[:, b]] - columns[axis][triangles[:, a]]
            squared[side] += step * step
    typical = np.median(squared[0][:: max(1, len(triangles) // 5000)])  # a sample's will do
    for side, (a, b) in enumerate(((0, 1), (1, 2))):
        long = np.flatnonzero(squared[side] > SPIKE_EDGES**2 * typical)
        spiky[triangles[long, a]] = True
        spiky[triangles[long, b]] = True
    return spiky


def _near_border(
    vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray, spacing: float
) -> np.ndarray:
    """Which of ``points`` lie within about one point spacing of the mesh's open border (edges
    of one triangle only).

    Why: the template covers forehead to chin and ear to ear; where the scan stops short (a cut
    forehead, a narrow crop, a hole) the template's points there find their nearest scan point
    on the border and pull the fit towards it, shifting the face box by a centimetre. Dropping
    pairs that end on the border (the usual rule of ICP on partial scans, Turk and Levoy 1994)
    leaves those points pulling on nothing. A mesh that is mostly border (a triangle soup, a
    cloud of random triangles) has no usable border: nothing is marked.
    """
    if len(triangles) == 0 or len(points) == 0:
        return np.zeros(len(points), dtype=bool)
    offsets = np.arange(0, 3 * len(triangles) + 1, 3)
    on_border = np.unique(border_edges(offsets, triangles.ravel(), len(vertices)))
    used = np.zeros(len(vertices), dtype=bool)
    used[triangles.ravel()] = True  # counted by a mask: sorting every corner costs more
    if len(on_border) == 0 or len(on_border) > BORDER_SOUP * np.count_nonzero(used):
        return np.zeros(len(points), dtype=bool)
    distance, _ = cKDTree(vertices[on_border]).query(
        points, distance_upper_bound=BORDER_REACH * spacing
    )
    return np.isfinite(distance)


def _scale_starts(points: np.ndarray, template: FaceTemplate) -> list[tuple[float, float]]:
    """``(template scale, mm per unit)`` to start from: scan units per template millimetre."""
    low, high = np.percentile(points, [1.0, 99.0], axis=0)
    extent = float(np.max(high - low))
    if not extent > 0:
        return []
    fitting = [
        mm for mm in UNITS_MM.values() if FACE_EXTENT_MM[0] <= extent * mm <= FACE_EXTENT_MM[1]
    ]
    fitting.sort(key=lambda mm: abs(np.log(extent * mm / TYPICAL_EXTENT_MM)))
    if fitting:
        return [(1.0 / mm, mm) for mm in fitting[:2]]
    # unknown units: the scan is a face crop, or a head and shoulders about twice a face
    template_extent = float(np.ptp(template.points[:, 1]))
    return [(extent / template_extent, 0.0), (0.5 * extent / template_extent, 0.0)]


def _fronts(points: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per starting rotation: the heights of the scan points along its forward axis
    (``(R, M)``) and the indices of the most forward few (``(R, top)``)."""
    height = rotations[:, :, 2] @ points.T  # the template's +z in the scan, per start
    top = max(3, len(points) // 200)
    # the cut by value, then the points above it: a partition of values is several times
    # faster than one of indices; points tied at the cut (duplicates) fall back to the latter
    cut = np.partition(height, len(points) - top, axis=1)[:, len(points) - top]
    _, front = np.nonzero(height >= cut[:, None])
    if len(front) != top * len(rotations):
        return height, np.argpartition(-height, top - 1, axis=1)[:, :top]
    return height, front.reshape(len(rotations), top)


def _placements(
    points: np.ndarray,
    rotations: np.ndarray,
    fronts: tuple[np.ndarray, np.ndarray],
    size: float,
    template: FaceTemplate,
) -> tuple[np.ndarray, np.ndarray]:
    """Two first guesses of where the template goes for each starting rotation (``(R, 3)``
    shifts each): its nose tip on the scan's most forward point in that orientation (right
    for a head or a head with shoulders looking about that way), and its centre under the
    middle of the scan's front (right for a face crop, whose forehead or chin may stick out
    further than its nose when the guess is tilted)."""
    height, front = fronts
    forward = rotations[:, :, 2]
    tips = np.median(points[front], axis=1)  # (R, 3)
    on_tip = tips - size * np.einsum("rij,j->ri", rotations, template.nose_tip)
    support = np.take_along_axis(height, front, axis=1).min(axis=1)  # (R,)
    band = height >= (support - FRONT_DEPTH_MM * size)[:, None]
    middle = (band @ points) / band.sum(axis=1)[:, None]  # (R, 3)
    lift = support - np.einsum("rk,rk->r", middle, forward) - size * template.nose_tip[2]
    under_middle = middle + lift[:, None] * forward
    return on_tip, under_middle


# ------------------------------------------------------------------------------ registration
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


def _matches(
    scan: _Scan,
    template: FaceTemplate,
    idx: np.ndarray,
    scale: np.ndarray,
    rotation: np.ndarray,
    shift: np.ndarray,
) -> np.ndarray:
    """``(B, len(idx))``: does each template point ``idx`` lie on the scan, per transform.

    On the scan means within :data:`MATCH_MM` of the plane of the nearest scan point (not of
    the point itself: a coarse scan's points are several millimetres apart) and no farther
    from that point than the same plus the scan's point spacing."""
    points, normals = template.points[idx], template.normals[idx]
    moved = scale[:, None, None] * points @ rotation.transpose(0, 2, 1) + shift[:, None, :]
    tolerance = MATCH_MM * scale[:, None]
    reach = float(tolerance.max()) + scan.spacing
    distance, nearest = scan.tree.query(moved.reshape(-1, 3), distance_upper_bound=reach)
    nearest = np.minimum(nearest, len(scan.points) - 1).reshape(len(scale), len(idx))
    distance = distance.reshape(len(scale), len(idx))
    scan_normals = scan.normals[nearest]
    across = np.abs(np.einsum("bmk,bmk->bm", moved - scan.points[nearest], scan_normals))
    turned = normals @ rotation.transpose(0, 2, 1)
    agree = np.einsum("bmk,bmk->bm", turned, scan_normals)
    close = (across <= tolerance) & (distance <= tolerance + scan.spacing)
    return close & (agree >= np.cos(np.radians(MATCH_ANGLE_DEG)))


def _scores(
    scan: _Scan, template: FaceTemplate, idx: np.ndarray, scale, rotation, shift
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage of the template points ``idx`` and of their central part, per transform."""
    matches = _matches(scan, template, idx, scale, rotation, shift)
    middle = np.isin(idx, central(template))
    return matches.mean(axis=1), matches[:, middle].mean(axis=1)


def central(template: FaceTemplate) -> np.ndarray:
    """Indices of the template's central face (eyes, nose, mouth): the part no smooth shape
    (a ball, a cylinder, a plane) can imitate."""
    x, y = template.points[:, 0], template.points[:, 1] - template.nose_tip[1]
    return np.flatnonzero(
        (np.abs(x) < CENTRAL_HALF_WIDTH_MM)
        & (y > CENTRAL_BELOW_NOSE_MM)
        & (y < CENTRAL_ABOVE_NOSE_MM)
    )


def eyes_nose(template: FaceTemplate) -> np.ndarray:
    """Indices of the template's eyes and nose: its central face above
    :data:`EYES_NOSE_BELOW_NOSE_MM` (without the mouth and chin, which a hole, a cut or an
    open mouth may take away)."""
    idx = central(template)
    return idx[template.points[idx, 1] - template.nose_tip[1] > EYES_NOSE_BELOW_NOSE_MM]


def _precision(scan: _Scan, template: FaceTemplate, scale: float, rotation, shift) -> float:
    """Share of the scan points inside the face box that lie on the fitted template."""
    radius = scale * template.face_radius
    inside = np.linalg.norm(scan.points - shift, axis=1) <= PRECISION_RADIUS * radius
    if not inside.any():
        return 0.0
    moved = scale * template.points @ rotation.T + shift
    distance, _ = cKDTree(moved).query(scan.points[inside])
    return float(np.mean(distance <= 2.0 * MATCH_MM * scale))


def _dense_in_fit(
    scan: _Scan, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The scan's dense points in the template's frame of one fit (mm at the template's size),
    and how far each one's normal faces the fitted face's forward axis; a very dense scan is
    read every few points (at most about :data:`PROFILE_POINTS`)."""
    stride = max(1, len(scan.dense) // PROFILE_POINTS)
    q = (scan.dense[::stride] - shift) @ rotation / scale
    return q, scan.dense_normals[::stride] @ rotation[:, 2]


def _nose_step(
    scan: _Scan, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> tuple[float, np.ndarray | None]:
    """How much further the scan's midline falls away below its nose tip than above it, in
    millimetres at the template's size, in the frame of one fit (positive: upright); and the
    nose tip it measured from, in the template's frame (None where there is none).

    Why: a face's midline profile is not the same either way up. From the tip the nose bridge
    slopes back gradually to the nasion, while below the tip the profile steps back sharply
    under the nose to the upper lip. An oval face crop with shallow features matches the
    template about as well upside down as upright (the forehead lies on the chin, the eye
    sockets on the mouth and cheeks), but its nose still steps back the other way. The test
    looks only at the scan (its most forward point near the fitted midline and the profile
    through it), so it does not depend on how closely the face resembles the template.

    The tip is the most forward point within :data:`NOSE_WINDOW_MM` of the fitted face
    centre, whichever way up (the window is symmetric, so the value of the fit turned upside
    down is the negative of this one); scanner spikes are not in :attr:`_Scan.dense`. Nothing
    to measure (a hole over the nose, a scan that is not a face): 0.
    """
    half_width, half_height = NOSE_WINDOW_MM
    q, facing = _dense_in_fit(scan, scale, rotation, shift)
    window = (np.abs(q[:, 0]) < half_width) & (np.abs(q[:, 1]) < half_height) & (facing > 0.0)
    q = q[window]
    if len(q) < 20:
        return 0.0, None
    tip = q[np.argmax(q[:, 2])]
    strip = q[np.abs(q[:, 0] - tip[0]) < PROFILE_HALF_WIDTH_MM]
    height = strip[:, 1] - tip[1]
    steps = []
    for low, high in PROFILE_BANDS_MM:
        above = strip[(height >= low) & (height < high), 2]
        below = strip[(-height >= low) & (-height < high), 2]
        if len(above) and len(below):
            steps.append(above.max() - below.max())
    return (float(np.mean(steps)), tip) if steps else (0.0, None)


def _relief(
    scan: _Scan, template: FaceTemplate, scale: float, rotation: np.ndarray, shift: np.ndarray
) -> float:
    """How far (mm at the template's size, root mean square) the scan's central face departs
    from the smooth surface that best fits it (a quadric: a ball, a cylinder, a saddle or a
    plane in any position).

    Why: a face carries sharp relief on a smooth base: the nose stands 15-25 mm out of the
    cheeks' surface, the eye sockets and the mouth sink into it. A smooth lump (a fist-sized
    pebble, the end of a blob, a cylinder or a ball) can match the template's coarse shape
    well enough to cover half its eyes, nose and mouth, but it has no such relief. The
    measure is the scan's own shape in the fitted frame, so it does not depend on how closely
    the face resembles the template.
    """
    q, facing = _dense_in_fit(scan, scale, rotation, shift)
    x, height = q[:, 0], q[:, 1] - template.nose_tip[1]
    inside = (
        (np.abs(x) < CENTRAL_HALF_WIDTH_MM)
        & (height > RELIEF_BELOW_NOSE_MM)
        & (height < CENTRAL_ABOVE_NOSE_MM)
        & (facing > 0.0)
    )
    q, height = q[inside], height[inside]
    if len(q) < 30:
        return 0.0
    front = q[:, 2] > q[:, 2].max() - FRONT_DEPTH_MM  # not the back of a thin crop
    q, height = q[front], height[front]
    # one point per cell of the face's area: a scanner (or mesher) that packs its vertices
    # more densely on smooth cheeks than on the nose must not smooth the relief away
    column = np.floor((q[:, 0] + CENTRAL_HALF_WIDTH_MM) / RELIEF_CELL_MM).astype(np.int64)
    row = np.floor((height - RELIEF_BELOW_NOSE_MM) / RELIEF_CELL_MM).astype(np.int64)
    _, first = np.unique(column * 1_000 + row, return_index=True)
    q = q[first]
    if len(q) < 30:
        return 0.0
    x, y, z = (q / 50.0).T  # well-conditioned
    design = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    smooth, *_ = np.linalg.lstsq(design, z, rcond=None)
    return float(50.0 * np.sqrt(np.mean((z - design @ smooth) ** 2)))


def _subset(template: FaceTemplate, size: int) -> np.ndarray:
    """``size`` template points, half of them (as far as there are) on the central face, so
    that even a few points weigh the eyes, nose and mouth."""
    rng = np.random.default_rng(1)
    middle = central(template)
    rest = np.setdiff1d(np.arange(len(template.points)), middle)
    n_middle = min(len(middle), size // 2)
    chosen = np.concatenate(
        [rng.permutation(middle)[:n_middle], rng.permutation(rest)[: size - n_middle]]
    )
    return np.sort(chosen)


def _register(scan: _Scan, template: FaceTemplate):
    """The multi-start registration (module doc, step 2): the final few candidate fits as
    ``(scale, rotation, shift, mm_per_unit, (scale's lower, upper bounds))`` arrays, or None
    when the scan has no surface."""
    starts = _scale_starts(scan.points, template) if len(scan.points) >= 20 else []
    if not starts:
        return None
    rotations = rotation_starts()
    scales, rots, shifts, units = [], [], [], []
    front = _fronts(scan.points, rotations)
    for size, mm in starts:
        for shift in _placements(scan.points, rotations, front, size, template):
            scales.append(np.full(len(rotations), size))
            rots.append(rotations)
            shifts.append(shift)
            units.append(np.full(len(rotations), mm))
    scale, rotation, shift = np.concatenate(scales), np.concatenate(rots), np.concatenate(shifts)
    mm_per_unit = np.concatenate(units)
    bounds = (scale * SCALE_RANGE[0], scale * SCALE_RANGE[1])
    if not mm_per_unit.any():  # unknown units: the size is free within the starts' range
        bounds = (scale * 0.4, scale * 2.5)

    chosen = None
    for stage, (n_keep, n_points, iterations, trim, eps) in enumerate(STAGES):
        if len(scale) > n_keep:  # scored on the previous stage's points: they are cheap
            coverage, central_coverage = _scores(scan, template, chosen, scale, rotation, shift)
            order = np.argsort(-(coverage + central_coverage))
            best = _distinct(order, scale, rotation, shift, n_keep)
            # the best few upside down too: a face's likeliest confusion
            flips = N_UPSIDE_DOWN[stage - 1]
            n_best = len(best)
            best = np.concatenate([best, best[:flips]])
            scale, rotation, shift = scale[best], rotation[best], shift[best]
            bounds, mm_per_unit = (bounds[0][best], bounds[1][best]), mm_per_unit[best]
            rotation[n_best:] = rotation[n_best:] @ np.diag([-1.0, -1.0, 1.0])
        chosen = _subset(template, n_points)
        scale, rotation, shift = _icp(
            scan, template.points[chosen], scale, rotation, shift, iterations, bounds, trim, eps
        )
    return scale, rotation, shift, mm_per_unit, bounds


def _distinct(order: np.ndarray, scale, rotation, shift, n: int) -> np.ndarray:
    """The first ``n`` of the fits ``order`` that differ from every fit before them by more
    than :data:`SAME_FIT` (degrees, share of the face box): starts that have converged onto
    the same fit cost a stage's steps for nothing."""
    kept = [int(order[0])]
    for b in order[1:]:
        if len(kept) == n:
            break
        if not _same_fit(scale, rotation, shift, kept, b).any():
            kept.append(int(b))
    return np.array(kept)


def fit_face_pose(
    vertices: np.ndarray,
    triangles: np.ndarray,
    source: str | Path | None = None,
    template: FaceTemplate | None = None,
) -> FacePose:
    """The face's pose in a scan given as vertices and ``(F, 3)`` triangles (see module doc).

    Raises:
        NotAFaceError: no face found; the reason gives the scores and the thresholds.
    """
    template = template or load_template()
    vertices = np.asarray(vertices, dtype=np.float64)
    scan = _scan_surface(vertices, np.asarray(triangles, dtype=np.int64))
    fits = _register(scan, template)
    if fits is None:
        raise NotAFaceError(source, "no face found: the mesh has no surface to fit a face to")
    scale, rotation, shift, mm_per_unit, bounds = fits
    every = np.arange(len(template.points))
    coverage, central_coverage = _scores(scan, template, every, scale, rotation, shift)
    k = _choose(scan, coverage + central_coverage, scale, rotation, shift)
    # the chosen fit, on to convergence from where it is and from either side of it along
    # the face's height, where a face whose shape differs from the template's has other
    # stable fits (stopped at one, a damaged scan's fit may end 10-20 mm from its clean
    # crop's)
    scale, rotation, shift, coverage, central_coverage = _polish(
        scan,
        template,
        (scale, rotation, shift, coverage + central_coverage),
        k,
        (bounds[0][k], bounds[1][k]),
    )
    mm_per_unit = mm_per_unit[k : k + 1]
    k = 0
    tilt = x_rotation(FRAME_PITCH_DEG)
    pose = FacePose(
        rotation=rotation[k] @ tilt,
        centre=shift[k] + scale[k] * rotation[k] @ FRAME_OFFSET_MM,
        radius=float(scale[k] * FRAME_RADIUS_MM),
        mm_per_unit=float(1.0 / scale[k]) if mm_per_unit[k] else 0.0,
        coverage=float(coverage[k]),
        central=float(central_coverage[k]),
        eyes_nose=float(
            _matches(scan, template, eyes_nose(template), scale, rotation, shift).mean()
        ),
        precision=_precision(scan, template, scale[k], rotation[k], shift[k]),
        relief=_relief(scan, template, scale[k], rotation[k], shift[k]),
    )
    relief = pose.relief * pose.precision
    central_face = pose.central >= MIN_CENTRAL or pose.eyes_nose >= MIN_EYES_NOSE
    if not central_face or pose.precision < MIN_PRECISION or relief < MIN_RELIEF_MM:
        raise NotAFaceError(
            source,
            f"no face found: the best fit of a face matches {pose.central:.2f} of its eyes, "
            f"nose and mouth (a face: at least {MIN_CENTRAL}, or {MIN_EYES_NOSE} of its eyes "
            f"and nose, here {pose.eyes_nose:.2f}) and {pose.precision:.2f} of the "
            f"surface around them (at least {MIN_PRECISION}), whose relief is "
            f"{pose.relief:.1f} mm ({relief:.1f} mm counted by that share, at least "
            f"{MIN_RELIEF_MM})",
        )
    return pose


def _polish(scan: _Scan, template: FaceTemplate, fits, k: int, bounds):
    """Fit ``k`` of the last stage's ``fits`` (``scale, rotation, shift, score`` arrays)
    refined to convergence, from where it stands and from :data:`VALLEY_MM` above and below it
    along the face; of those and the last stage's fits as they came, the ones that are the same
    fit (:data:`BLEND_SAME`) and score within :data:`BLEND_SCORE` of the best of them, blended
    by how far they stand above that mark. Returned ``(1,)``-batched: ``scale, rotation,
    shift, coverage, central``.

    Why: a face whose proportions differ from the template's (a longer or shorter middle
    face, a nose set lower) lies in a shallow valley along its height with more than one
    stable fit in it, 15-20 mm apart, whose coverage scores differ by a few hundredths; which
    one the stages end in turns on noise and holes, so the same face scanned twice could be
    framed 15-20% of its face box apart. Starting the last steps from either side of the
    fit finds the others, and the coverage score, which the steps do not optimise, weighs
    them (the steps' trimmed pairs may also slide a damaged scan's fit off a better one,
    so the fits as they came take part: other samples of the valley, scored already). A blend, not the best alone: where the scores are
    that close, which is best turns on noise too, while the blend moves little with it."""
    scale, rotation, shift = fits[0][k], fits[1][k], fits[2][k]
    offsets = np.array([0.0, *VALLEY_MM, *(-np.asarray(VALLEY_MM))])
    n = len(offsets)
    rotations = np.repeat(rotation[None], n, axis=0)
    scales = np.full(n, scale)
    shifts = shift + (scale * offsets)[:, None] * rotation[:, 1]
    scales, rotations, shifts = _icp(
        scan,
        template.points[_subset(template, STAGES[-1][1])],
        scales,
        rotations,
        shifts,
        POLISH_ITERATIONS,
        (np.full(n, bounds[0]), np.full(n, bounds[1])),
        FINAL_TRIM,
    )
    every = np.arange(len(template.points))
    coverage, central_coverage = _scores(scan, template, every, scales, rotations, shifts)
    # with the last stage's fits as they came, already scored
    score = np.concatenate([coverage + central_coverage, fits[3]])
    scales = np.concatenate([scales, fits[0]])
    rotations = np.concatenate([rotations, fits[1]])
    shifts = np.concatenate([shifts, fits[2]])
    # the same fit as the chosen one, but for where along the valley it lies; any other (turned,
    # at another size or unit, elsewhere on the scan) is not blended
    degrees, share, size = BLEND_SAME
    trace = np.einsum("kij,ij->k", rotations, rotation)
    apart = np.linalg.norm(shifts - shift, axis=1) / (scale * FRAME_RADIUS_MM)
    agree = (
        (trace >= 1.0 + 2.0 * np.cos(np.radians(degrees)))
        & (apart < share)
        & (np.abs(np.log(scales / scale)) < np.log(size))
    )
    weight = np.where(agree, np.clip(score - (score[agree].max() - BLEND_SCORE), 0.0, None), 0.0)
    weight /= weight.sum()
    # the fits differ by a few degrees at most: the weighted mean of their rotation matrices
    # projected back onto the rotations is their mean rotation
    u, _, vt = np.linalg.svd(np.einsum("b,bij->ij", weight, rotations))
    mean_rotation = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    mean_scale = float(np.exp(weight @ np.log(scales)))
    mean_shift = weight @ shifts
    one = (np.array([mean_scale]), mean_rotation[None], mean_shift[None])
    coverage, central_coverage = _scores(scan, template, every, *one)
    return *one, coverage, central_coverage


def _choose(scan: _Scan, score: np.ndarray, scale, rotation, shift) -> int:
    """The final fit: the best by coverage score plus the nose profile's say on which way up
    (:data:`UPRIGHT_WEIGHT`). Only fits that the profile could lift to the top are measured,
    and a fit that repeats one already measured (the starts often converge) is not again."""
    total = score - UPRIGHT_WEIGHT  # at worst; what a fit not measured is taken for
    measured: list[int] = []
    for b in np.argsort(-score):
        if score[b] + UPRIGHT_WEIGHT <= total.max():
            break  # neither this fit nor a worse one can win
        same = _same_fit(scale, rotation, shift, measured, b) if measured else []
        twin = measured[int(np.argmax(same))] if np.any(same) else None
        if twin is None:
            step, _ = _nose_step(scan, scale[b], rotation[b], shift[b])
            total[b] = score[b] + UPRIGHT_WEIGHT * np.clip(step / UPRIGHT_MM, -1.0, 1.0)
        else:
            total[b] = score[b] + (total[twin] - score[twin])
        measured.append(int(b))
    return int(np.argmax(total))


def _same_fit(scale, rotation, shift, others: list[int], b: int) -> np.ndarray:
    """``(len(others),)``: does each of the fits ``others`` agree with fit ``b`` within
    :data:`SAME_FIT` (turned less than its degrees apart, shifted less than its share of
    ``b``'s face box)."""
    degrees, share = SAME_FIT
    # the angle of the turn between two rotations is below ``degrees`` exactly when the trace
    # of their relative rotation, 1 + 2 cos(angle), is above 1 + 2 cos(degrees)
    trace = np.einsum("kij,ij->k", rotation[others], rotation[b])
    apart = np.linalg.norm(shift[others] - shift[b], axis=1)
    return (trace > 1.0 + 2.0 * np.cos(np.radians(degrees))) & (
        apart < share * scale[b] * FRAME_RADIUS_MM
    )


def estimate_face_pose(mesh: FaceMesh) -> FacePose:
    """:func:`fit_face_pose` of a :class:`FaceMesh` (its vertices and triangles)."""
    return fit_face_pose(mesh.vertices, mesh.triangles(), mesh.source)


def face_pose_of(mesh: FaceMesh, mode: str = "estimate") -> FacePose:
    """The pose a render uses: estimated (``estimate``) or the scan's own axes (``as_stored``)."""
    if mode not in POSE_MODES:
        raise ValueError(f"pose must be one of {POSE_MODES}, got {mode!r}")
    return estimate_face_pose(mesh) if mode == "estimate" else stored_pose(mesh.vertices)


def stored_pose(vertices: np.ndarray) -> FacePose:
    """The scan's own axes, framed by its robust sphere (``render.pose: as_stored``)."""
    from facevlm.render.normalize import fit_normalization

    fit = fit_normalization(vertices)
    return FacePose(np.eye(3), fit.centre, fit.radius, estimated=False, mm_per_unit=0.0)

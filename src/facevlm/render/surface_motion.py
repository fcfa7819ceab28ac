"""How far a face's surface moved between two frames, painted on the face: the micro-expression
input that the renders of single frames cannot give.

Why: a micro-expression moves the skin by about a millimetre. Rendered at a CPU model's size
that is a pixel or less, and most of it is lost between the geometry and the photographs
(docs/what-we-tried/sequences.md: a linear model on the rendered apex-onset pixel
difference reaches 0.60 where the clips' true action units give 0.90). The meshes themselves
still hold the motion, so this measures it in 3D and renders the measurement: the apex mesh with
each vertex coloured by its signed displacement from the onset surface, outward light and inward
dark. It is the 3D counterpart of the optical flow that 2D micro-expression methods feed their
networks (e.g. Off-ApexNet, STSTNet), measured on the geometry instead of estimated from pixels.

How, and why it works on any 4D scanner's output:

- **No vertex correspondence is assumed.** Real 4D frames are reconstructed one by one, so the
  same index is not the same point of skin from frame to frame, nor do two frames cover the
  same skin. The apex is first aligned to the onset rigidly (point-to-plane iterative closest
  points over the skin both cover), so that head motion does not show; then each apex vertex's displacement is
  its distance to the closest onset vertex *along that vertex's normal* (point-to-plane), which
  does not depend on how the two surfaces were sampled; where the onset has no skin under an
  apex vertex (a border or a strip of neck only the apex covers), nothing is measured.
- **Scale per clip.** Scanners differ in units (millimetres, metres, arbitrary), and a
  micro-expression's amplitude varies; the displacements of each clip are divided by their own
  robust maximum (a high percentile of ``|d|``), as a dynamic image is min-max scaled per
  image, so every map uses the whole grey range.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from facevlm.render.arrays import area_weighted_normals
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

if TYPE_CHECKING:  # the geometry here needs no VTK
    from facevlm.render.settings import RenderSettings

#: Most iterations of the rigid alignment (it stops earlier once it has converged).
ICP_ITERATIONS = 30
#: The alignment fits the overlap only when at least this share of the points is in it (a poor
#: start leaves most points outside: then all of them count until it is better).
MIN_OVERLAP = 0.1
#: Beyond this many edge lengths from the onset surface, along it, an apex vertex has no onset
#: skin to be compared with (a border or a strip of neck only the apex frame covers).
OVERLAP_REACH = 3.0
#: Points the alignment uses at most (a uniform subsample of a dense scan is as good and faster).
ICP_MAX_POINTS = 5000
#: ``|d|`` percentile that maps to full black or white (robust to a few stray vertices).
SCALE_PERCENTILE = 99.0
#: How far each vertex's displacement is averaged with its neighbours', as a fraction of the face's
#: radius (the root-mean-square reach of the averaging; scanner noise is per vertex, skin motion
#: is not). A fraction of the face, not a number of rings of neighbours: a real 4D frame has ~20
#: times the built-in clips' vertices, and two rings of it would average over a millimetre of
#: skin and leave the noise of two independent reconstructions in the map. On the built-in clips
#: (edges ~8% of the radius) this is two rings; measured there, 0 / 2 / 5 rings: 0.800 / 0.812 /
#: 0.812 (leave-one-subject-out logistic regression on the rendered maps' pixels, point-to-point
#: alignment); these maps as they are: 0.838 (docs/what-we-tried/sequences.md).
SMOOTHING_RADIUS = 0.1
#: Most rounds of neighbour averaging (a ~0.1 mm-sampled scan would need thousands; this keeps the
#: map's time bounded, ~1 ms a round at 35,000 vertices).
MAX_SMOOTHING_ROUNDS = 400
#: Motion smaller than this fraction of the face's radius is none (0.01 mm on a 100 mm face;
#: a micro-expression moves the skin by 0.2-1 mm).
MOTION_FLOOR = 1e-4
#: Grey of zero displacement (and of a clip that did not move at all).
NEUTRAL_GREY = 128


def vertex_normals(mesh: FaceMesh) -> np.ndarray:
    """``(V, 3)`` unit normals, area-weighted over each vertex's triangles (zero if isolated),
    facing away from the mesh's centre whichever way its triangles are wound."""
    points = mesh.vertices
    normals = area_weighted_normals(points, mesh.triangles())
    # formats and scanners differ in their triangles' winding: face the normals away from the
    # head's centre, so that "outward" means the same on every scan
    if np.einsum("ij,ij->", normals, points - points.mean(axis=0)) < 0:
        normals = -normals
    return normals


def _small_rotation(angles: np.ndarray) -> np.ndarray:
    """The rotation matrix of the rotation vector ``angles`` (Rodrigues)."""
    theta = float(np.linalg.norm(angles))
    if theta < 1e-12:
        return np.eye(3)
    k = angles / theta
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * cross @ cross


def rigid_align(
    moving: np.ndarray,
    fixed: np.ndarray,
    fixed_normals: np.ndarray,
    reach: float,
    iterations: int = ICP_ITERATIONS,
) -> np.ndarray:
    """``moving`` points rigidly moved onto the surface of ``fixed`` (points with their unit
    ``fixed_normals``): point-to-plane iterative closest points over the overlap.

    Point-to-plane rather than point-to-point: on a smooth face point-to-point ICP slides
    slowly along the surface and needs many more iterations. Over the overlap: two frames of a
    real scan rarely cover the same skin, so a point whose closest ``fixed`` point lies more
    than ``reach`` away *along* the surface (a strip of neck or a ragged border that only one
    frame has) is left out of the fit; a point that moved *across* the surface (the
    expression) stays in, as leaving the largest residuals out instead made the built-in maps
    worse (docs/what-we-tried/sequences.md). It starts where the frames are: two frames of one
    recording share the
    scanner's coordinates and the head moves a few millimetres at most. The two point sets
    need not have the same number or order of points.
    """
    step = max(1, len(moving) // ICP_MAX_POINTS)
    sample = moving[::step]
    tree = cKDTree(fixed)
    rotation, translation = np.eye(3), np.zeros(3)
    for _ in range(iterations):
        current = sample @ rotation.T + translation
        _, nearest = tree.query(current)
        normals = fixed_normals[nearest]
        overlap = _along_surface(current - fixed[nearest], normals) <= reach
        if overlap.sum() >= MIN_OVERLAP * len(current):
            current, nearest, normals = current[overlap], nearest[overlap], normals[overlap]
        # linearised: minimise sum(((I + [w]x) p + u - q) . n)^2 over the small rotation w and u
        rows = np.hstack([np.cross(current, normals), normals])
        residual = np.einsum("ij,ij->i", fixed[nearest] - current, normals)
        update, *_ = np.linalg.lstsq(rows, residual, rcond=None)
        step_rotation = _small_rotation(update[:3])
        rotation = step_rotation @ rotation
        translation = step_rotation @ translation + update[3:]
        if np.abs(update).max() < 1e-10:
            break
    return moving @ rotation.T + translation


def _along_surface(offset: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """The length of each offset's component along the surface (perpendicular to its normal)."""
    across = np.einsum("ij,ij->i", offset, normals)
    return np.linalg.norm(offset - across[:, None] * normals, axis=1)


def edge_length(mesh: FaceMesh) -> float:
    """The median length of the mesh's triangle edges: its sampling step."""
    points, triangles = mesh.vertices, mesh.triangles()
    edges = points[triangles] - points[np.roll(triangles, 1, axis=1)]
    return float(np.median(np.linalg.norm(edges, axis=-1))) if len(triangles) else 0.0


def surface_displacement(onset: FaceMesh, apex: FaceMesh) -> np.ndarray:
    """``(V_apex,)`` signed displacement of each apex vertex from the onset surface, in the
    meshes' units: positive where the skin moved outward (along the onset's normals).

    The apex is rigidly aligned to the onset first, so a head that moved without changing
    expression gives (close to) zero everywhere. Where the onset has no surface under an apex
    vertex (its nearest onset vertex lies more than :data:`OVERLAP_REACH` edge lengths away
    *along* the surface: a part only the apex frame covers), nothing is measured: zero.
    """
    onset_normals = vertex_normals(onset)
    reach = OVERLAP_REACH * edge_length(onset)
    aligned = rigid_align(apex.vertices, onset.vertices, onset_normals, reach)
    _, nearest = cKDTree(onset.vertices).query(aligned)
    offset = aligned - onset.vertices[nearest]
    normals = onset_normals[nearest]
    displacement = np.einsum("ij,ij->i", offset, normals)
    return np.where(_along_surface(offset, normals) <= reach, displacement, 0.0)


def smoothing_rounds(mesh: FaceMesh, radius: float = SMOOTHING_RADIUS) -> int:
    """Rounds of :func:`smooth_on_mesh` that average over ``radius`` x the face's radius.

    Each round spreads a value over a vertex and its ~6 neighbours, one edge length ``e`` away,
    so its squared reach grows by about ``6/7 e^2`` per round (a random walk): ``k`` rounds
    reach ``e sqrt(6k/7)``.
    """
    step = edge_length(mesh)
    if not step > 0:
        return 0
    rounds = 7.0 / 6.0 * (radius * face_size(mesh) / step) ** 2
    return int(min(MAX_SMOOTHING_ROUNDS, round(rounds)))


def smooth_on_mesh(values: np.ndarray, mesh: FaceMesh, rounds: int | None = None) -> np.ndarray:
    """``values`` (one per vertex) averaged ``rounds`` times with those of the vertices that
    share an edge with each (the vertex itself counts once, each neighbour once per edge);
    ``None``: as many rounds as reach :data:`SMOOTHING_RADIUS` of the face
    (:func:`smoothing_rounds`), whatever the mesh's density."""
    if rounds is None:
        rounds = smoothing_rounds(mesh)
    triangles = mesh.triangles()
    first = np.concatenate([triangles[:, [0, 1, 2]].ravel(), triangles[:, [1, 2, 0]].ravel()])
    second = np.concatenate([triangles[:, [1, 2, 0]].ravel(), triangles[:, [0, 1, 2]].ravel()])
    n = len(values)
    weight = np.bincount(first, minlength=n) + 1.0
    smoothed = np.asarray(values, dtype=np.float64)
    for _ in range(rounds):
        smoothed = (smoothed + np.bincount(first, smoothed[second], minlength=n)) / weight
    return smoothed


def displacement_grey(displacement: np.ndarray, face_size: float) -> np.ndarray:
    """``(V,)`` uint8 grey levels: ``NEUTRAL_GREY`` for no motion, white and black for the clip's
    largest outward and inward motion (:data:`SCALE_PERCENTILE` of ``|d|``).

    Motion below :data:`MOTION_FLOOR` of ``face_size`` (the face's radius) is not scaled up:
    a clip that did not move stays neutral instead of showing its round-off as motion.
    """
    scale = float(np.percentile(np.abs(displacement), SCALE_PERCENTILE)) if displacement.size else 0
    if not np.isfinite(scale) or scale <= MOTION_FLOOR * face_size:
        return np.full(displacement.shape, NEUTRAL_GREY, np.uint8)
    grey = NEUTRAL_GREY + 127.0 * np.clip(displacement / scale, -1.0, 1.0)
    return np.round(grey).astype(np.uint8)


def face_size(mesh: FaceMesh) -> float:
    """The face's radius: root-mean-square distance of its vertices from their centre."""
    centred = mesh.vertices - mesh.vertices.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(centred**2, axis=1))))


def surface_motion_mesh(onset: FaceMesh, apex: FaceMesh) -> FaceMesh:
    """The apex mesh painted with its displacement from the onset (grey per-vertex colours, no
    texture), ready for an unlit colour render (:func:`surface_motion_settings`).

    Raises:
        ScanError: naming the file, when either mesh is unusable (empty, non-finite).
    """
    onset.validate()
    apex.validate()
    displacement = smooth_on_mesh(surface_displacement(onset, apex), apex)
    if not np.all(np.isfinite(displacement)):
        raise ScanError(apex.source, f"surface motion from {onset.source} is not finite")
    grey = displacement_grey(displacement, face_size(apex))
    return FaceMesh(
        vertices=apex.vertices,
        polygon_offsets=apex.polygon_offsets,
        polygon_indices=apex.polygon_indices,
        vertex_colors=np.repeat(grey[:, None], 3, axis=1),
        source=apex.source,
    )


#: Bumped whenever the map changes for the same meshes, so cached renders are not reused.
ALGORITHM_VERSION = 4


def cache_identity() -> dict[str, float]:
    """What, beside the two files and the render settings, decides a map's pixels: for the
    render cache's key (a map made by an older version or other constants is made again)."""
    return {
        "version": ALGORITHM_VERSION,
        "icp_iterations": ICP_ITERATIONS,
        "icp_max_points": ICP_MAX_POINTS,
        "min_overlap": MIN_OVERLAP,
        "overlap_reach": OVERLAP_REACH,
        "scale_percentile": SCALE_PERCENTILE,
        "smoothing_radius": SMOOTHING_RADIUS,
        "max_smoothing_rounds": MAX_SMOOTHING_ROUNDS,
        "motion_floor": MOTION_FLOOR,
    }


def surface_motion_settings(settings: RenderSettings) -> RenderSettings:
    """The render settings of a surface-motion map: the run's size, views, background and fill,
    drawn unlit from the vertex colours (whatever ``modality`` the still scans use), so the grey
    level is the displacement and nothing else."""
    return dataclasses.replace(settings, modality="texture", lighting=False)

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
   (normalised or arbitrary units, or a face in a wider scene: a depth camera's capture
   with the wall behind the sitter), at the sizes of a face crop and of a head filling the
   scan, and at a real face's size in the unit that makes the scan a scene up to 4 m across.
   The scan's normals face away from the centre of their own piece of the scan (a wall's
   normals must not turn the face's inwards).
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
   steps back sharply below it). The chosen fit is refined to convergence, also from 15 and
   30 mm above and below it (a face unlike the template in its proportions has several stable
   fits along its height), and the fits that score within a fifth of the best are blended
   (:func:`_polish`). A fit that still scores poorly (:data:`POOR_FIT`) or fails the face
   test of step 4 is searched for again from that fit turned and enlarged (:func:`_widen`): a
   scan cut short of the template can hold every start in one fit shrunk and tilted into it,
   so poorly that the face test refuses it; the fit found there is kept only if it passes
   the face test itself. A face still refused is searched for once more, with twice as many
   fits kept at each stage (:func:`_search_further`: on a whole head the true fit can rank
   just below the cut, behind fits on the cranium or the neck).
4. **Face or not.** A fit whose central coverage falls below :data:`MIN_CENTRAL` (unless
   its eyes and nose alone match :data:`MIN_EYES_NOSE` of the template's: a face whose mouth
   and chin are lost to a hole or a cut), whose precision (the share of the scan inside the face box that lies on the template: a random
   cloud of points covers the template but is mostly off it) falls below
   :data:`MIN_PRECISION`, or whose scan has too little relief (a face's nose, eye sockets and
   mouth stand out of a smooth base; a lump that matches the template's coarse shape has
   little, and little of the surface around it lies on the face: :func:`_relief`,
   :data:`MIN_RELIEF_MM`), or no nose where the fit puts one (:data:`MIN_NOSE_RIDGE`: a
   lumpy blob can pass the tests above, but no lump is a ridge with steep sides) is no face:
   :class:`NotAFaceError`. The template is one face, the mean: once every search is refused,
   each fit it refused is refined together with the template bent toward the scan's own face
   by the model's identity modes and expression shapes (:mod:`.shape_fit`) and tested again
   against the bent template, so that a real face far from the mean in shape (a broad, flat
   nose) is a face too.

The result, :class:`FacePose`, maps the scan into the canonical face frame: the face box (as
BU-3DFE's crops and the built-in set fill the image, :data:`FRAME_OFFSET_MM`,
:data:`FRAME_RADIUS_MM`) at the origin with radius 1, the face looking along +z, y up.
Measured accuracy, separation and cost: ``benchmarks/canonical_pose.py``.

The package, one job a module (this module: the estimate itself, the refusal and the public
names):

- :mod:`.record`        the pose record (:class:`FacePose`, its JSON) and :class:`NotAFaceError`
- :mod:`.rotations`     starting rotations, rotation matrices, a pitch, the angle between two
- :mod:`.scan_surface`  the scan as the fit sees it: points, normals, open border, spikes
- :mod:`.starts`        the scan's units and the first guesses of where the template goes
- :mod:`.icp`           the batched trimmed point-to-plane similarity ICP
- :mod:`.scores`        coverage, central coverage, eyes and nose, precision
- :mod:`.scan_shape`    the scan's nose profile (which way up) and relief (face or smooth lump)
- :mod:`.registration`  the multi-start stages of successive halving (step 2)
- :mod:`.choice`        the final choice, polish and blend of the candidate fits (step 3)
- :mod:`.shape_fit`     the template bent to the scan's own face (the face test's second look)
- :mod:`.framing`       the canonical face box and pitch in the template's millimetres
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facevlm.render.face_pose.choice import POOR_FIT, _choose, _polish, _refit_upper, _widen
from facevlm.render.face_pose.framing import FRAME_OFFSET_MM, FRAME_PITCH_DEG, FRAME_RADIUS_MM
from facevlm.render.face_pose.record import ALGORITHM_VERSION, FacePose, NotAFaceError
from facevlm.render.face_pose.registration import _register
from facevlm.render.face_pose.rotations import rotation_angle_deg, rotation_starts, x_rotation
from facevlm.render.face_pose.scan_shape import _nose_step, _relief
from facevlm.render.face_pose.scan_surface import _scan_surface
from facevlm.render.face_pose.scores import (
    _matches,
    _nose_ridge,
    _precision,
    _scores,
    eyes_nose,
)
from facevlm.render.face_pose.shape_fit import fit_shape, fit_shape_weights
from facevlm.render.face_pose.starts import scan_points
from facevlm.render.face_template import FaceTemplate, load_template
from facevlm.scans.mesh import FaceMesh

__all__ = [
    "ALGORITHM_VERSION",
    "FRAME_OFFSET_MM",
    "FRAME_PITCH_DEG",
    "FRAME_RADIUS_MM",
    "MIN_CENTRAL",
    "MIN_EYES_NOSE",
    "MIN_NOSE_RIDGE",
    "MIN_PRECISION",
    "MIN_RELIEF_MM",
    "POOR_FIT",
    "POSE_MODES",
    "FacePose",
    "NotAFaceError",
    "ShapeWeights",
    "estimate_face_pose",
    "face_pose_of",
    "fit_face_pose",
    "rotation_angle_deg",
    "rotation_starts",
    "shape_weights",
    "stored_pose",
    "x_rotation",
]

#: ``render.pose`` values: estimate the pose, or take the scan's axes as they are stored.
POSE_MODES = ("estimate", "as_stored")
#: Below these scores there is no face. Chosen between the faces' and the non-faces' central
#: coverage as ``benchmarks/canonical_pose.py`` prints them (docs/benchmarks.md, "Face pose"):
#: the margin is thin on the non-face side, a cylinder or a lumpy blob matches the cheeks and
#: forehead of a face and only the eyes and nose tell (a blob may pass: the relief test below
#: is what refuses it).
MIN_CENTRAL = 0.41
MIN_PRECISION = 0.5
#: ... unless the eyes and nose alone (the central face above
#: :data:`~.scores.EYES_NOSE_BELOW_NOSE_MM` below the nose tip: the part an expression moves
#: least) match this well: a face whose mouth and chin are lost to a hole or a cut still has
#: them, where no smooth shape matches more than 0.34 of them (faces' 5th percentile 0.45;
#: ``benchmarks/canonical_pose.py``).
MIN_EYES_NOSE = 0.45
#: Below this relief (mm, :func:`_relief`), counted in proportion to the precision (the
#: relief of a shape whose surroundings lie on a face), there is no face. Faces, damaged ones
#: included, mostly score 2.4 or more (precision mostly above 0.9), a shallow procedural
#: crop now and then less (one in 900 refused at 1.8), the lumpy blobs that pass the coverage
#: tests 1.3 at most (their lumps give up to 2.1 mm of relief, but most of the surface around
#: them is off the face) (``benchmarks/canonical_pose.py``).
MIN_RELIEF_MM = 1.9
#: Below this share of the template's nose ridge on the scan there is no face, unless less
#: than :data:`NOSE_SURFACE_NEEDED` of the ridge has scan surface under it (a hole or a cut
#: over the nose: then the ridge cannot tell). Lumpy blobs that pass every other test match
#: at most 0.10 of it (23 of 400 blobs), faces 0.27 or more in 99 cases of 100 (1,500 cases;
#: two whose fit was right match 0.07 and 0.11: flat noses, which the mean face refuses and
#: the template bent to them finds, :func:`_bent_look`; docs/benchmarks.md).
MIN_NOSE_RIDGE = 0.12
NOSE_SURFACE_NEEDED = 0.5
#: A face found by the template bent to it (:func:`_bent_look`) must lie on this share of
#: the scan around it (its precision), where the mean face's test asks for
#: :data:`MIN_PRECISION`: bent, the template fits more than faces, and a face fitted by its
#: own shape lies on nearly all of the scan around it (0.95-1.00 for faces the mean face
#: refused), the one lumpy blob in 1,600 whose bent fit passed every other test on 0.75.
BENT_MIN_PRECISION = 0.9
#: How many fits a refused face's further search keeps entering the second and the last
#: stage (:func:`_search_further`; the first search keeps :data:`~.registration.STAGES`',
#: half as many).
FURTHER_KEEP = (48, 6)


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
    scan = _scan_surface(vertices, np.asarray(triangles, dtype=np.int64), scan_points(vertices))
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
    fit_bounds = bounds[0][k], bounds[1][k]
    fit = _polish(scan, template, (scale[k], rotation[k], shift[k]), fit_bounds)
    unit_known = bool(mm_per_unit[k])
    pose = _pose_of(scan, template, fit, unit_known)
    reason = _no_face_reason(pose)
    # the fits the mean face refused, for a last look (_bent_look)
    refused = [] if reason is None else [(fit, unit_known)]
    if reason is not None or pose.coverage + pose.central < POOR_FIT:
        wider = _widen(scan, template, fit, fit_bounds)
        if wider is not None:
            widened = _pose_of(scan, template, wider, unit_known)
            if _no_face_reason(widened) is None:
                pose, reason = widened, None
            else:
                refused.append((wider, unit_known))
    if reason is not None:
        pose = _search_further(scan, template, refused)
    if pose is None:
        pose = _bent_look(scan, template, refused)
    if pose is None:
        raise NotAFaceError(source, reason)
    return pose


def _search_further(scan, template: FaceTemplate, refused: list) -> FacePose | None:
    """A face for a scan whose chosen fit the face test refused, from twice as many fits kept
    at each stage (:data:`FURTHER_KEEP`), each final fit polished in turn in the order the
    first search chooses them, and refitted on the template's upper face alone where the
    polished fit is refused (:func:`~.choice._refit_upper`: a broad smile); the first that
    passes the face test, or None. Each upright fit refused joins ``refused``
    (``(fit, unit_known)``, for :func:`_bent_look`).

    Why: the stages rank their fits on a few template points, and on a whole head or a face
    with its neck the true fit can rank just below the cut there, behind fits on the cranium,
    the neck or upside down, which the last stage then cannot lift to a face (clean
    ICT-FaceKit heads, smiling or sad: refused, their true fits found this way match 0.62-0.81
    of the central face). Searched only once a face is refused, so a face found the first
    time costs nothing more, and each fit found must pass the face test itself."""
    fits = _register(scan, template, keep=FURTHER_KEEP)
    scale, rotation, shift, mm_per_unit, bounds = fits
    every = np.arange(len(template.points))
    coverage, central_coverage = _scores(scan, template, every, scale, rotation, shift)
    score = coverage + central_coverage
    for _ in range(len(score)):
        # chosen as the first search chooses (the nose profile's say on which way up), so
        # that an upside-down fit passing the face test is not taken before the upright one
        k = _choose(scan, score, scale, rotation, shift)
        if not np.isfinite(score[k]):
            break
        fit, fit_bounds = (scale[k], rotation[k], shift[k]), (bounds[0][k], bounds[1][k])
        # polished over the whole face, or else held by its upper face alone (a broad smile)
        for refit in (_polish, _refit_upper):
            found = refit(scan, template, fit, fit_bounds)
            # never one that the scan's nose profile calls upside down: the first search
            # weighs that against coverage, but here the upright fit may just have been refused
            step, _ = _nose_step(scan, found[0][0], found[1][0], found[2][0])
            if step < 0.0:
                continue
            pose = _pose_of(scan, template, found, bool(mm_per_unit[k]))
            if _no_face_reason(pose) is None:
                return pose
            refused.append((found, bool(mm_per_unit[k])))
        score[k] = -np.inf  # tried: the next best
    return None


def _bent_look(scan, template: FaceTemplate, refused: list) -> FacePose | None:
    """The first of the fits the mean face refused (``refused``: ``(fit, unit_known)`` in the
    order tried) that, refined together with the template bent toward the scan's own face
    (:func:`~.shape_fit.fit_shape`), passes the face test against the bent template and lies
    on :data:`BENT_MIN_PRECISION` of the scan around it; its pose, or None.

    Why: the mean face is one face, and a real face far from it (a broad, flat nose, full
    lips) fails the test at its true fit. A last look, once every search has been refused,
    so that a face the mean face finds is posed exactly as before and costs nothing more."""
    if template.identity_modes is None:
        return None
    every = np.arange(len(template.points))
    for fit, unit_known in refused:
        bent, refit = fit_shape(scan, template, (fit[0][0], fit[1][0], fit[2][0]))
        pose = _pose_of(scan, bent, (*refit, *_scores(scan, bent, every, *refit)), unit_known)
        if _no_face_reason(pose) is None and pose.precision >= BENT_MIN_PRECISION:
            return replace(pose, shape_fitted=True)
    return None


def _pose_of(scan, template: FaceTemplate, fit, unit_known: bool) -> FacePose:
    """The :class:`FacePose` of one ``(1,)``-batched fit (``scale, rotation, shift, coverage,
    central``), with the scores the face test reads."""
    scale, rotation, shift, coverage, central_coverage = fit
    tilt = x_rotation(FRAME_PITCH_DEG)
    nose_ridge, nose_surface = _nose_ridge(scan, template, scale[0], rotation[0], shift[0])
    return FacePose(
        rotation=rotation[0] @ tilt,
        centre=shift[0] + scale[0] * rotation[0] @ FRAME_OFFSET_MM,
        radius=float(scale[0] * FRAME_RADIUS_MM),
        mm_per_unit=float(1.0 / scale[0]) if unit_known else 0.0,
        coverage=float(coverage[0]),
        central=float(central_coverage[0]),
        eyes_nose=float(
            _matches(scan, template, eyes_nose(template), scale, rotation, shift).mean()
        ),
        precision=_precision(scan, template, scale[0], rotation[0], shift[0]),
        relief=_relief(scan, template, scale[0], rotation[0], shift[0]),
        nose_ridge=nose_ridge,
        nose_surface=nose_surface,
    )


def _template_fit(pose: FacePose) -> tuple[float, np.ndarray, np.ndarray]:
    """The template's fit ``(scale, rotation, shift)`` behind the pose ``pose``: the framing
    :func:`_pose_of` puts on a fit, undone."""
    rotation = pose.rotation @ x_rotation(FRAME_PITCH_DEG).T
    scale = pose.radius / FRAME_RADIUS_MM
    return scale, rotation, pose.centre - scale * rotation @ FRAME_OFFSET_MM


def _no_face_reason(pose: FacePose) -> str | None:
    """Why the fit ``pose`` is no face (module doc, step 4), or None for a face."""
    relief = pose.relief * pose.precision
    central_face = pose.central >= MIN_CENTRAL or pose.eyes_nose >= MIN_EYES_NOSE
    nose = pose.nose_ridge >= MIN_NOSE_RIDGE or pose.nose_surface < NOSE_SURFACE_NEEDED
    if central_face and pose.precision >= MIN_PRECISION and relief >= MIN_RELIEF_MM and nose:
        return None
    return (
        f"no face found: the best fit of a face matches {pose.central:.2f} of its eyes, "
        f"nose and mouth (a face: at least {MIN_CENTRAL}, or {MIN_EYES_NOSE} of its eyes "
        f"and nose, here {pose.eyes_nose:.2f}), {pose.nose_ridge:.2f} of its nose ridge "
        f"(at least {MIN_NOSE_RIDGE}) and {pose.precision:.2f} of the "
        f"surface around them (at least {MIN_PRECISION}), whose relief is "
        f"{pose.relief:.1f} mm ({relief:.1f} mm counted by that share, at least "
        f"{MIN_RELIEF_MM})"
    )


def estimate_face_pose(mesh: FaceMesh) -> FacePose:
    """:func:`fit_face_pose` of a :class:`FaceMesh` (its vertices and triangles)."""
    return fit_face_pose(mesh.vertices, mesh.triangles(), mesh.source)


@dataclass(frozen=True)
class ShapeWeights:
    """A face read as the template's morphable model (:func:`shape_weights`).

    Attributes:
        identity: ``(K,)`` the identity modes' weights, in the model's standard deviations
            (a person the model was built from: mostly within ±2; the fit stops at
            :data:`~.shape_fit.IDENTITY_LIMIT`).
        expression: each ARKit-named expression shape's weight in ``[0, 1]`` (``jawOpen``).
    """

    identity: np.ndarray
    expression: dict[str, float]


def shape_weights(mesh: FaceMesh, pose: FacePose | None = None) -> ShapeWeights:
    """The face in ``mesh`` read as the template's morphable model: its identity and its
    expression as blend shapes, fitted together from the face's pose (estimated when not
    given) as the face test bends the template (:func:`~.shape_fit.fit_shape_weights`).

    Why: one basis measured on real people that any scan can be read in, so that what two
    face sources (or two databases) call one emotion can be compared shape for shape, and a
    face the basis cannot make is seen as such, its weights at their limits
    (``benchmarks/expression_basis.py``). A fit of the template's few thousand points: it reads
    the broad movements (jaw, lip corners, brows), not the fine ones (lids, dimples).

    Raises:
        NotAFaceError: no face found in ``mesh`` (when ``pose`` is not given).
    """
    template = load_template()
    pose = pose or estimate_face_pose(mesh)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    scan = _scan_surface(
        vertices, np.asarray(mesh.triangles(), dtype=np.int64), scan_points(vertices)
    )
    weights, _ = fit_shape_weights(scan, template, _template_fit(pose))
    n_identity = template.identity_modes.shape[2]
    expression = weights[n_identity:].tolist()
    return ShapeWeights(
        identity=weights[:n_identity],
        expression=dict(zip(template.expression_names, expression, strict=True)),
    )


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

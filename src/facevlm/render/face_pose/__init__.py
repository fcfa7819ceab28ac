"""Where the face of a scan is and which way it looks, whatever the scan's axes, units and crop;
and no face at all refused.

Why: the renderer draws a scan face-forward only if the scan arrives looking along +z with y
up, cropped to the face, and databases store their scans in their own frames and units (a
structured-light capture on its side, a Kinect head with neck and shoulders in metres). A
model trained on face-forward renders predicts nonsense from the side of a head or a ball.

The method is the classic preprocessing of 3D face recognition (FRGC, Bosphorus) in the
other order: a mean face (:mod:`.face_template`, from real people) is registered to the scan
from many starts, and the fit must then show a nose and a symmetry plane where it puts them
(a scan of any orientation and crop has no reliable nose tip to start from). Deterministic:
no learned detector, nothing to download, nothing read from the texture.

1. **Units and first guesses** (:mod:`.starts`). A face is 80-700 mm across: the template is
   tried at a real face's size in each unit (mm, cm, m, inch) that makes the scan that size;
   when none does, at the scan's own size (a face crop, a head) and as a face in a scene up
   to 4 m across. From 120 rotations spread over all orientations, the template's nose tip
   goes on the scan's most forward point, or its centre under the scan's front.
2. **Registration** (:mod:`.registration`, :mod:`.icp`). Trimmed point-to-plane similarity
   ICP of a few template points on the scan, all starts at once, the best distinct fits by
   coverage going on to finer stages (successive halving), the best also tried upside down.
   Pairs ending on the scan's open border and the worst quarter are dropped: a scan's holes,
   cut forehead, neck and hair pull on nothing.
3. **Choice and polish** (:mod:`.choice`). The final fits are ranked by coverage (the share
   of the template on the scan, :mod:`.scores`) with the nose profile's say on which way is
   up (:func:`_nose_step`: below the tip a nose steps back sharply, above it slopes). The
   chosen fit is refined to convergence from where it is and 15 and 30 mm above and below,
   and the fits that agree are blended: a face unlike the template in its proportions has
   several stable fits along its height.
4. **Face or not** (:func:`_no_face_reason`). The fit must cover the template's central face
   (:data:`MIN_CENTRAL`, or its eyes and nose :data:`MIN_EYES_NOSE`), lie on the scan around
   it (:data:`MIN_PRECISION`), find relief on it (:data:`MIN_RELIEF_MM`: a face's nose and
   eye sockets on a smooth base; a lump has none), a nose ridge (:data:`MIN_NOSE_RIDGE`), and
   a face mirror-symmetric about the fitted midline or a clear nose on it
   (:data:`MIN_SYMMETRY`, :data:`CLEAR_NOSE_RIDGE`: the side of a whole head, an ear taken
   for a nose, is lopsided and has neither). A refused fit is searched for again with more
   fits kept (:func:`_search_further`), then with the template bent to the scan's own face
   (:mod:`.shape_fit`: a face far from the mean face, a broad flat nose); what either finds
   must pass the same test. Last (:func:`_own_midline_look`), the first fit refused only for
   its midline is taken when the scan is mirror-symmetric about its own midline near it
   (:data:`MIN_OWN_SYMMETRY`: a real face the fit stands a few degrees off). Still refused:
   :class:`NotAFaceError`, one line.

The result, :class:`FacePose`, maps the scan into the canonical face frame: the face box
(:data:`FRAME_OFFSET_MM`, :data:`FRAME_RADIUS_MM`, as BU-3DFE's crops and the built-in set
fill the image) at the origin with radius 1, the face looking along +z, y up. Accuracy,
refusals and cost: ``benchmarks/canonical_pose.py``; how each stage came about:
docs/what-we-tried/face-pose.md.

The package, one job a module (this module: the estimate itself, the refusal and the public
names):

- :mod:`.record`        the pose record (:class:`FacePose`, its JSON) and :class:`NotAFaceError`
- :mod:`.rotations`     starting rotations, rotation matrices, a pitch, the angle between two
- :mod:`.scan_surface`  the scan as the fit sees it: points, normals, open border, spikes
- :mod:`.starts`        the scan's units and the first guesses of where the template goes
- :mod:`.icp`           the batched trimmed point-to-plane similarity ICP
- :mod:`.scores`        coverage, central coverage, eyes and nose, precision
- :mod:`.scan_shape`    the scan's nose profile, relief and symmetry about the fitted midline
- :mod:`.registration`  the multi-start stages of successive halving (step 2)
- :mod:`.choice`        the final choice, polish and blend of the candidate fits (step 3)
- :mod:`.shape_fit`     the template bent to the scan's own face (the face test's second look)
- :mod:`.framing`       the canonical face box and pitch in the template's millimetres
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facevlm.render.face_pose.choice import _choose, _polish, _refit_upper
from facevlm.render.face_pose.framing import FRAME_OFFSET_MM, FRAME_PITCH_DEG, FRAME_RADIUS_MM
from facevlm.render.face_pose.record import ALGORITHM_VERSION, FacePose, NotAFaceError
from facevlm.render.face_pose.registration import _register
from facevlm.render.face_pose.rotations import rotation_angle_deg, rotation_starts, x_rotation
from facevlm.render.face_pose.scan_shape import _central_front, _nose_step, _relief, _symmetry
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
from facevlm.scans.layouts.scan_index.jobs import PoseEstimator
from facevlm.scans.mesh import FaceMesh

__all__ = [
    "ALGORITHM_VERSION",
    "FACE_POSE_ESTIMATOR",
    "FRAME_OFFSET_MM",
    "FRAME_PITCH_DEG",
    "FRAME_RADIUS_MM",
    "MIN_CENTRAL",
    "MIN_EYES_NOSE",
    "MIN_NOSE_RIDGE",
    "MIN_OWN_SYMMETRY",
    "MIN_PRECISION",
    "MIN_RELIEF_MM",
    "MIN_SYMMETRY",
    "CLEAR_NOSE_RIDGE",
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
#: Below these scores there is no face (between faces' and non-faces' scores as
#: ``benchmarks/canonical_pose.py --details`` prints them; a lumpy blob may pass these two:
#: the relief and nose ridge tests below refuse it).
MIN_CENTRAL = 0.41
MIN_PRECISION = 0.5
#: ... unless the eyes and nose alone match this well (a face whose mouth and chin are lost
#: to a hole or a cut; no smooth shape matches more than 0.34 of them).
MIN_EYES_NOSE = 0.45
#: Below this relief (mm, :func:`_relief`) times the precision there is no face: faces
#: mostly score 2.4 or more, lumpy blobs that pass the coverage tests 1.3 at most.
MIN_RELIEF_MM = 1.9
#: Below this share of the template's nose ridge on the scan there is no face, unless more
#: than ``1 - NOSE_SURFACE_NEEDED`` of the ridge lies over a hole: a nose the scanner lost,
#: with no surface under the ridge and the rim of a hole or a cut nearest to it. A ridge over
#: surface that merely lies deeper (a lump under a fit floating above it) is no such hole:
#: counted as one, it let a lumpy blob through. Blobs passing every other test match at most
#: 0.10, faces 0.27 or more in 99 of 100 (flat noses less: :func:`_bent_look` finds them).
MIN_NOSE_RIDGE = 0.12
NOSE_SURFACE_NEEDED = 0.5
#: A face looks at the camera about its fitted midline: the scan's eyes and nose are
#: mirror-symmetric about it (:func:`~.scan_shape._symmetry`, at least ``MIN_SYMMETRY``) or a
#: nose stands on it (the nose ridge, at least ``CLEAR_NOSE_RIDGE``). A fit on the side of
#: a real whole head (the ear for a nose, upside down) passes every other test, and its
#: frontal render would show the side of the head: it scores 0.41-0.44 and 0.13-0.21. Faces
#: fail either alone now and then (an asymmetric expression, a cut crop: 2 in 279 synthetic
#: cases under 0.55; a flat nose: 1 in 100 under 0.27), both together none measured.
MIN_SYMMETRY = 0.5
CLEAR_NOSE_RIDGE = 0.25
#: A fit refused only for its midline is still a face looking at the camera when the scan's
#: eyes and nose are mirror-symmetric about their own midline near the fitted one
#: (:func:`~.scan_shape._symmetry` with ``own_plane``, at least ``MIN_OWN_SYMMETRY``), looked
#: at once every search is refused (:func:`_own_midline_look`). Why: the fit of a real face
#: unlike the template stands off its midline (every FaceWarehouse pose 3-4 degrees: 0.52-0.93
#: about the fitted midline, 0.85-0.99 about its own; 8 degrees and 3 mm off, a refused real
#: smile's 0.17 and nose ridge 0.16), and a face's render a few degrees turned is read where a
#: refused one is not. The side of a whole head offers no such plane: 301 fits on it of 20
#: FaceWarehouse heads turned 8 ways score 0.68 at most (docs/what-we-tried/face-pose.md).
MIN_OWN_SYMMETRY = 0.8
#: A face found by the bent template (:func:`_bent_look`) must lie on this share of the scan
#: around it: bent, the template fits more than faces (faces 0.95-1.00, the one blob in 1,600
#: whose bent fit passed every other test 0.75).
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
    if reason is None:
        return pose
    refused = [(fit, unit_known)]  # the fits the mean face refused, for the bent look
    seen = [pose]  # every pose refused, in the order tried, for the last look
    pose = (
        _search_further(scan, template, refused, seen)
        or _bent_look(scan, template, refused, seen)
        or _own_midline_look(seen)
    )
    if pose is None:
        raise NotAFaceError(source, reason)
    return pose


def _search_further(scan, template: FaceTemplate, refused: list, seen: list) -> FacePose | None:
    """A face for a scan whose chosen fit the face test refused: the registration again with
    twice as many fits kept (:data:`FURTHER_KEEP`), each final fit in the first search's
    order polished, and refitted on the upper face where the polish is refused
    (:func:`~.choice._refit_upper`: a broad smile); the first that passes, or None. Each
    upright fit refused joins ``refused`` (``(fit, unit_known)``, for :func:`_bent_look`) and
    its pose ``seen`` (for :func:`_own_midline_look`).

    Why: on a whole head the true fit can rank just below a stage's cut, behind fits on the
    cranium or the neck (clean ICT-FaceKit heads, smiling or sad, were refused). Only a
    refused scan pays for it."""
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
            seen.append(pose)
        score[k] = -np.inf  # tried: the next best
    return None


def _bent_look(scan, template: FaceTemplate, refused: list, seen: list) -> FacePose | None:
    """The first of the fits the mean face refused (``refused``, in the order tried) that,
    refined with the template bent toward the scan's own face (:func:`~.shape_fit.fit_shape`),
    passes the face test against the bent template and lies on :data:`BENT_MIN_PRECISION`
    of the scan around it; its pose, or None. Each bent pose refused joins ``seen``.

    Why: the mean face is one face, and a real face far from it (a broad, flat nose, full
    lips) fails the test at its true fit. Looked at last, so a face the mean face finds is
    posed as before and costs nothing more."""
    if template.identity_modes is None:
        return None
    every = np.arange(len(template.points))
    for fit, unit_known in refused:
        bent, refit = fit_shape(scan, template, (fit[0][0], fit[1][0], fit[2][0]))
        pose = replace(
            _pose_of(scan, bent, (*refit, *_scores(scan, bent, every, *refit)), unit_known),
            shape_fitted=True,
        )
        if _no_face_reason(pose) is None:
            return pose
        seen.append(pose)
    return None


def _own_midline_look(seen: list[FacePose]) -> FacePose | None:
    """The first of the poses every search refused (``seen``, in the order tried) refused only
    for its midline (:func:`_shape_reason` passed) whose scan is mirror-symmetric about its
    own midline near the fitted one (:data:`MIN_OWN_SYMMETRY`); or None.

    Why last: the fitted midline's symmetry also tells a fit that stands where the face does
    from one a few degrees off, and a later search often finds the better one; only when none
    does is the face taken in the fit it has rather than refused."""
    for pose in seen:
        if _shape_reason(pose) is None and pose.own_symmetry >= MIN_OWN_SYMMETRY:
            return pose
    return None


def _pose_of(scan, template: FaceTemplate, fit, unit_known: bool) -> FacePose:
    """The :class:`FacePose` of one ``(1,)``-batched fit (``scale, rotation, shift, coverage,
    central``), with the scores the face test reads."""
    scale, rotation, shift, coverage, central_coverage = fit
    tilt = x_rotation(FRAME_PITCH_DEG)
    one = scale[0], rotation[0], shift[0]
    nose_ridge, nose_surface = _nose_ridge(scan, template, *one)
    front = _central_front(scan, template, *one)  # read once for the relief and the symmetry
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
        precision=_precision(scan, template, *one),
        relief=_relief(scan, template, *one, front),
        nose_ridge=nose_ridge,
        nose_surface=nose_surface,
        symmetry=_symmetry(scan, template, *one, front),
        own_symmetry=_symmetry(scan, template, *one, front, own_plane=True),
    )


def _template_fit(pose: FacePose) -> tuple[float, np.ndarray, np.ndarray]:
    """The template's fit ``(scale, rotation, shift)`` behind the pose ``pose``: the framing
    :func:`_pose_of` puts on a fit, undone."""
    rotation = pose.rotation @ x_rotation(FRAME_PITCH_DEG).T
    scale = pose.radius / FRAME_RADIUS_MM
    return scale, rotation, pose.centre - scale * rotation @ FRAME_OFFSET_MM


def _no_face_reason(pose: FacePose) -> str | None:
    """Why the fit ``pose`` is no face (module doc, step 4), or None for a face."""
    return _shape_reason(pose) or _midline_reason(pose)


def _shape_reason(pose: FacePose) -> str | None:
    """Why the fit ``pose`` has no face's shape under it (its coverage, precision, relief and
    nose ridge; module doc, step 4), or None; whichever way it looks."""
    relief = pose.relief * pose.precision
    central_face = pose.central >= MIN_CENTRAL or pose.eyes_nose >= MIN_EYES_NOSE
    nose = pose.nose_ridge >= MIN_NOSE_RIDGE or pose.nose_surface < NOSE_SURFACE_NEEDED
    bent_off = pose.shape_fitted and pose.precision < BENT_MIN_PRECISION
    if central_face and pose.precision >= MIN_PRECISION and relief >= MIN_RELIEF_MM and nose:
        if not bent_off:
            return None
        return (
            f"no face found: the template bent to the scan lies on {pose.precision:.2f} of "
            f"the surface around it (a face at least {BENT_MIN_PRECISION})"
        )
    return (
        f"no face found: the best fit of a face matches {pose.central:.2f} of its eyes, "
        f"nose and mouth (a face: at least {MIN_CENTRAL}, or {MIN_EYES_NOSE} of its eyes "
        f"and nose, here {pose.eyes_nose:.2f}), {pose.nose_ridge:.2f} of its nose ridge "
        f"(at least {MIN_NOSE_RIDGE}) and {pose.precision:.2f} of the "
        f"surface around them (at least {MIN_PRECISION}), whose relief is "
        f"{pose.relief:.1f} mm ({relief:.1f} mm counted by that share, at least "
        f"{MIN_RELIEF_MM})"
    )


def _midline_reason(pose: FacePose) -> str | None:
    """Why the fit ``pose``, a face's shape, does not look at the camera about its fitted
    midline (module doc, step 4), or None."""
    if pose.symmetry >= MIN_SYMMETRY or pose.nose_ridge >= CLEAR_NOSE_RIDGE:
        return None
    return (
        f"no face found facing the camera: the best fit of a face lies on a surface that "
        f"is not mirror-symmetric about its midline ({pose.symmetry:.2f} of its eyes and "
        f"nose mirrored land on the scan, a face at least {MIN_SYMMETRY}; "
        f"{pose.own_symmetry:.2f} about any midline near it, at least {MIN_OWN_SYMMETRY}) "
        f"and shows little nose there ({pose.nose_ridge:.2f} of the ridge, or at least "
        f"{CLEAR_NOSE_RIDGE}): the side or back of a head, or no face"
    )


def estimate_face_pose(mesh: FaceMesh) -> FacePose:
    """:func:`fit_face_pose` of a :class:`FaceMesh` (its vertices and triangles)."""
    return fit_face_pose(mesh.vertices, mesh.triangles(), mesh.source)


def face_pose_json(mesh: FaceMesh) -> str:
    """:func:`estimate_face_pose` as the scan index stores it (:meth:`FacePose.to_json`)."""
    return estimate_face_pose(mesh).to_json()


#: The face pose as the scan index is handed it (it cannot import this layer).
FACE_POSE_ESTIMATOR = PoseEstimator(face_pose_json, ALGORITHM_VERSION)


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
    (docs/what-we-tried/source-gap.md). A fit of the template's few thousand points: it reads
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

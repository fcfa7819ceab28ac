"""The final choice among the registration's candidate fits (package doc, step 3), its polish
and blend, and the refit of one fit on the upper face (:func:`_refit_upper`).

Separate from :mod:`.registration` because it weighs finished fits against each other; it
searches only near the chosen fit.
"""

from __future__ import annotations

import numpy as np

from facevlm.render.face_pose.framing import FRAME_RADIUS_MM
from facevlm.render.face_pose.icp import FINAL_TRIM, _icp
from facevlm.render.face_pose.registration import STAGES, _same_fit, _subset
from facevlm.render.face_pose.scan_shape import _nose_step
from facevlm.render.face_pose.scan_surface import _Scan
from facevlm.render.face_pose.scores import _scores, upper_face
from facevlm.render.face_template import FaceTemplate

#: Steps of the polish, enough for the fit to converge (only converged fits are blended).
POLISH_ITERATIONS = 12
#: The polish also starts this far (mm) above and below the chosen fit along the face's
#: height: a face unlike the template in its proportions has other stable fits 15-20 mm apart.
VALLEY_MM = (15.0, 30.0)
#: Of those converged fits, the same fit as the chosen one but for where along the valley
#: (``BLEND_SAME``: within its degrees, share of the face box and size ratio) and within
#: ``BLEND_SCORE`` of the best are blended by how far each stands above that mark: holes and
#: noise move a damaged scan's valley fits' scores up to a tenth apart.
BLEND_SCORE = 0.2
BLEND_SAME = (10.0, 0.3, 1.2)
#: The nose profile's weight in the choice: a fit gains up to ``UPRIGHT_WEIGHT`` on its
#: coverage score at a step of ``UPRIGHT_MM`` (its upside-down twin loses as much): enough
#: for the hundredths an oval crop's upside-down fit may win by, not the tenths a wrong fit
#: of a real face loses by.
UPRIGHT_WEIGHT, UPRIGHT_MM = 0.2, 16.0


def _refine(
    scan: _Scan,
    template: FaceTemplate,
    fits,
    iterations: int,
    bounds,
    points: np.ndarray | None = None,
):
    """``fits`` (``scale, rotation, shift`` arrays) refined by ``iterations`` steps of the last
    stage's ICP on the template points ``points`` (indices; the last stage's subset by
    default), each within the scale window ``bounds``, and scored over the whole template:
    ``scale, rotation, shift, coverage, central``. What the polish and
    :func:`_refit_upper` do to their starts."""
    n = len(fits[0])
    points = _subset(template, STAGES[-1][1]) if points is None else points
    scales, rotations, shifts = _icp(
        scan,
        template.points[points],
        *fits,
        iterations,
        (np.full(n, bounds[0]), np.full(n, bounds[1])),
        FINAL_TRIM,
    )
    every = np.arange(len(template.points))
    coverage, central_coverage = _scores(scan, template, every, scales, rotations, shifts)
    return scales, rotations, shifts, coverage, central_coverage


def _polish(scan: _Scan, template: FaceTemplate, fit, bounds):
    """The fit ``fit`` (``scale, rotation, shift``, one each) refined to convergence from
    where it stands and from :data:`VALLEY_MM` above and below it along the face; those that
    are the same fit (:data:`BLEND_SAME`) within :data:`BLEND_SCORE` of the best, blended.
    Returned ``(1,)``-batched: ``scale, rotation, shift, coverage, central``.

    Why: a face whose proportions differ from the template's lies in a shallow valley along
    its height with stable fits 15-20 mm apart whose scores differ by a few hundredths; which
    one the stages end in turns on noise and holes (the same face scanned twice was framed
    15-20% of its box apart). Started from either side, the steps find the others; the
    coverage score weighs them, and a blend moves less with the damage than the best alone.
    Only converged fits take part: where an unconverged fit stops turns on how the scan is
    turned against the starting rotations."""
    scale, rotation, shift = fit
    offsets = np.array([0.0, *VALLEY_MM, *(-np.asarray(VALLEY_MM))])
    n = len(offsets)
    rotations = np.repeat(rotation[None], n, axis=0)
    scales = np.full(n, scale)
    shifts = shift + (scale * offsets)[:, None] * rotation[:, 1]
    scales, rotations, shifts, coverage, central_coverage = _refine(
        scan, template, (scales, rotations, shifts), POLISH_ITERATIONS, bounds
    )
    score = coverage + central_coverage
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
    if not agree.any():  # every start left the chosen fit: the best of where they went
        agree[int(np.argmax(score))] = True
    weight = np.where(agree, np.clip(score - (score[agree].max() - BLEND_SCORE), 0.0, None), 0.0)
    weight /= weight.sum()
    # the fits differ by a few degrees at most: the weighted mean of their rotation matrices
    # projected back onto the rotations is their mean rotation
    u, _, vt = np.linalg.svd(np.einsum("b,bij->ij", weight, rotations))
    mean_rotation = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    mean_scale = float(np.exp(weight @ np.log(scales)))
    mean_shift = weight @ shifts
    one = (np.array([mean_scale]), mean_rotation[None], mean_shift[None])
    every = np.arange(len(template.points))
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


def _refit_upper(scan: _Scan, template: FaceTemplate, fit, bounds):
    """The fit ``fit`` (``scale, rotation, shift``, one each) refined to convergence on the
    template's upper face alone (:func:`~.scores.upper_face`), scored over the whole template:
    ``(1,)``-batched ``scale, rotation, shift, coverage, central``.

    Why: a broad smile or a wide-open mouth moves the lips, cheeks and chin so far from the
    template's that a fit over the whole face pitches 10-15 degrees to cover them and matches
    the eyes and nose no longer (a laughing ICT-FaceKit face: 0.16 of its eyes and nose); the
    upper face holds it where the face is."""
    scale, rotation, shift = fit
    one = (np.array([scale]), rotation[None], shift[None])
    return _refine(scan, template, one, POLISH_ITERATIONS, bounds, upper_face(template))

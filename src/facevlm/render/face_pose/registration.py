"""The multi-start registration (package doc, step 2): starts over all orientations and
plausible units, successive halving stages of ICP, the best few also tried upside down. It ends
with a few candidate fits and no opinion on which is right (that is :mod:`.choice`'s).
"""

from __future__ import annotations

import numpy as np

from facevlm.render.face_pose.framing import FRAME_RADIUS_MM
from facevlm.render.face_pose.icp import FINAL_TRIM, TRIM, _icp
from facevlm.render.face_pose.rotations import rotation_starts
from facevlm.render.face_pose.scan_surface import _Scan
from facevlm.render.face_pose.scores import _scores, central
from facevlm.render.face_pose.starts import _fronts, _placements, _scale_starts
from facevlm.render.face_template import FaceTemplate

#: How many of the best guesses are also tried upside down entering the second and third
#: stage: an oval crop fits upside down nearly as well after a few coarse steps.
N_UPSIDE_DOWN = (6, 2)
#: Successive halving: (starts kept, template points, ICP iterations, trim, search
#: tolerance) per stage, the starts kept the best distinct ones by coverage so far. Fewer
#: than 40 first points let a whole head lose its true start to a fit on the cranium. The
#: tolerance is ``cKDTree.query``'s ``eps``: the coarse stages only sort the starts out, and
#: approximate search halves their time.
STAGES = (
    (10_000, 40, 3, TRIM, 1.0),
    (24, 100, 8, TRIM, 0.5),
    (3, 400, 10, FINAL_TRIM, 0.0),
)
#: Two fits this close (degrees, share of the face box radius) are the same fit: a stage
#: keeps only one of them (:func:`_distinct`).
SAME_FIT = (5.0, 0.05)
#: The fitted face may be this much smaller or larger than the template's size in its units.
SCALE_RANGE = (0.6, 1.35)


#: The last template's subsets (:func:`_subset`), by size: every scan asks for the same few.
_SUBSETS: dict = {"points": None}


def _subset(template: FaceTemplate, size: int) -> np.ndarray:
    """``size`` template points, half of them (as far as there are) on the central face, so
    that even a few points weigh the eyes, nose and mouth."""
    if _SUBSETS["points"] is not template.points:
        _SUBSETS.clear()
        _SUBSETS["points"] = template.points
    if size not in _SUBSETS:
        _SUBSETS[size] = _draw_subset(template, size)
        _SUBSETS[size].flags.writeable = False
    return _SUBSETS[size]


def _draw_subset(template: FaceTemplate, size: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    middle = central(template)
    rest = np.setdiff1d(np.arange(len(template.points)), middle)
    n_middle = min(len(middle), size // 2)
    chosen = np.concatenate(
        [rng.permutation(middle)[:n_middle], rng.permutation(rest)[: size - n_middle]]
    )
    return np.sort(chosen)


def _register(scan: _Scan, template: FaceTemplate, keep: tuple[int, ...] | None = None):
    """The multi-start registration (package doc, step 2): the final few candidate fits as
    ``(scale, rotation, shift, mm_per_unit, (scale's lower, upper bounds))`` arrays, or None
    when the scan has no surface. ``keep``: how many fits enter each stage after the first,
    in place of :data:`STAGES`' (a refused face is searched again with more)."""
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
        if keep and stage:
            n_keep = keep[stage - 1]
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

"""The pose record the estimate returns (:class:`FacePose`) and the error it raises when a
mesh holds no face (:class:`NotAFaceError`).

Separate from the fit because everything downstream (the scan index, the render cache key,
the renderer, the predictor) reads and writes poses without fitting one: this module is all
they need, and the one place the record's JSON form and its version live.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from facevlm.render.normalize import Normalization
from facevlm.scans.errors import ScanError

#: Bumped whenever the estimate can change for the same scan (render caches key on it).
ALGORITHM_VERSION = 21


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
        coverage, central, precision: the fit's scores (see the package docstring): the share
            of the template on the scan, of its eyes, nose and mouth, and of the scan around
            the face on the template; 1.0 for a stored pose.
        eyes_nose: the share of the template's eyes and nose on the scan (its central face
            without the mouth and chin); 1.0 for a stored pose.
        relief: how far (mm at the template's size) the scan's central face departs from a
            smooth surface (:func:`_relief`); 0.0 for a stored pose.
        nose_ridge, nose_surface: the share of the template's nose ridge on the scan, and
            the share of it not over a hole or a cut (:func:`~.scores._nose_ridge`); 1.0
            for a stored pose.
        symmetry: the share of the scan's eyes and nose that lands on the scan mirrored across
            the fitted midline (:func:`~.scan_shape._symmetry`); 1.0 for a stored pose.
        own_symmetry: the same across the scan's own midline near the fitted one (the plane
            :func:`~.scan_shape._mirror_plane` finds); 1.0 for a stored pose.
        estimated: False for ``as_stored`` (the scan's own axes, framed by its robust sphere).
        shape_fitted: the mean face refused the fit and the scores are those of the template
            bent to the scan's own face (:mod:`~facevlm.render.face_pose.shape_fit`): a face
            far from the mean face in shape.
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
    nose_ridge: float = 1.0
    nose_surface: float = 1.0
    shape_fitted: bool = False
    symmetry: float = 1.0
    own_symmetry: float = 1.0

    @property
    def confidence(self) -> float:
        """How sure the fit is, 0-1: the lower of its central coverage and precision."""
        return float(min(self.central, self.precision))

    def normalization(self) -> Normalization:
        return Normalization(centre=self.centre, radius=self.radius, rotation=self.rotation)

    def to_json(self) -> str:
        """A compact record for the scan index and the render cache key."""
        record: dict[str, Any] = {"version": ALGORITHM_VERSION}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                record[field.name] = bool(value)
            elif field.type == "np.ndarray":
                record[field.name] = np.round(value, 6).tolist()
            else:
                record[field.name] = round(float(value), _DECIMALS.get(field.name, 4))
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> FacePose:
        """The pose of a :meth:`to_json` record; a score the record lacks (one written before
        the score existed) takes the stored pose's value."""
        data = json.loads(text) if isinstance(text, str) else dict(text)
        return cls(**{f.name: _READ[f.type](data[f.name]) for f in fields(cls) if f.name in data})


#: Decimal places a number keeps in the JSON record (:meth:`FacePose.to_json`; the scores 4,
#: the rotation and centre 6): the pose to a millionth of the scan's units.
_DECIMALS = {"radius": 6, "mm_per_unit": 6, "relief": 3}
#: How a record's value is read back, by the field's type.
_READ = {
    "np.ndarray": lambda value: np.asarray(value, dtype=np.float64),
    "float": float,
    "bool": bool,
}

"""The pose record the estimate returns (:class:`FacePose`) and the error it raises when a
mesh holds no face (:class:`NotAFaceError`).

Separate from the fit because everything downstream (the scan index, the render cache key,
the renderer, the predictor) reads and writes poses without fitting one: this module is all
they need, and the one place the record's JSON form and its version live.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from facevlm.render.normalize import Normalization
from facevlm.scans.errors import ScanError

#: Bumped whenever the estimate can change for the same scan (render caches key on it).
ALGORITHM_VERSION = 19


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
        symmetry: the share of the scan's central face that lands on the scan mirrored across
            the fitted midline (:func:`~.scan_shape._symmetry`); 1.0 for a stored pose.
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
                "nose_ridge": round(float(self.nose_ridge), 4),
                "nose_surface": round(float(self.nose_surface), 4),
                "estimated": bool(self.estimated),
                "shape_fitted": bool(self.shape_fitted),
                "symmetry": round(float(self.symmetry), 4),
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
            nose_ridge=float(data.get("nose_ridge", 1.0)),
            nose_surface=float(data.get("nose_surface", 1.0)),
            estimated=bool(data.get("estimated", True)),
            shape_fitted=bool(data.get("shape_fitted", False)),
            symmetry=float(data.get("symmetry", 1.0)),
        )

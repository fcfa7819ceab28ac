"""The scanner-variety settings (:class:`ScannerVariety`): how far each scan may differ from
the clean face, knob by knob, checked and normalised to ranges when built.

Separate because the synthetic-set config builds and validates these settings from YAML without
touching a mesh; the stages that apply them read the checked values only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

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

"""Camera viewpoints of the multiview front end, and how they are written in parameters.

The papers render each scan from the front, the left and the right; the group's earlier code used
yaw 0, +20 and -20 degrees at 224 x 224 px, which is our default (``docs/methods.md``). Any list of
(yaw, pitch) is a parameter, written in YAML either as pairs ``[[0, 0], [20, 0], [-20, 0]]`` or as
a string of yaws ``"0,20,-20"`` (optionally ``"yaw:pitch"`` items, ``"0:0,20:10"``).

Angle convention (the face looks toward +z with y up, see :mod:`facevlm.scans.mesh`): the camera
orbits the face centre and looks at it from
``(sin(yaw) cos(pitch), sin(pitch), cos(yaw) cos(pitch))``. So ``yaw > 0`` puts the camera on
the +x side, the subject's left, and the nose points toward the left of the image; ``pitch > 0``
looks down on the face from above.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Pitch is kept strictly inside (-90, 90): at the poles "up" is undefined.
MAX_ABS_PITCH = 89.0


@dataclass(frozen=True)
class View:
    """One camera viewpoint, in degrees (see the module docstring for the sign convention)."""

    yaw: float
    pitch: float = 0.0

    def __post_init__(self) -> None:
        # ``+ 0.0`` turns -0.0 into 0.0 so that equal views have equal names
        object.__setattr__(self, "yaw", float(self.yaw) + 0.0)
        object.__setattr__(self, "pitch", float(self.pitch) + 0.0)
        if not (math.isfinite(self.yaw) and math.isfinite(self.pitch)):
            raise ValueError(f"view angles must be finite, got yaw={self.yaw}, pitch={self.pitch}")
        if abs(self.pitch) > MAX_ABS_PITCH:
            raise ValueError(f"|pitch| must be at most {MAX_ABS_PITCH} degrees, got {self.pitch}")

    @property
    def name(self) -> str:
        """A stable, filename-safe name, e.g. ``yaw+20_pitch+0`` or ``yaw-12.5_pitch+10``."""
        return f"yaw{self.yaw:+g}_pitch{self.pitch:+g}"

    def direction(self) -> tuple[float, float, float]:
        """Unit vector from the face centre toward the camera."""
        yaw, pitch = math.radians(self.yaw), math.radians(self.pitch)
        return (
            math.sin(yaw) * math.cos(pitch),
            math.sin(pitch),
            math.cos(yaw) * math.cos(pitch),
        )

    def up(self) -> tuple[float, float, float]:
        """Camera up vector: +y tilted with the pitch, exactly orthogonal to :meth:`direction`."""
        yaw, pitch = math.radians(self.yaw), math.radians(self.pitch)
        return (
            -math.sin(pitch) * math.sin(yaw),
            math.cos(pitch),
            -math.sin(pitch) * math.cos(yaw),
        )


#: Frontal, +20 degrees and -20 degrees yaw: the group's earlier multiview setup.
DEFAULT_VIEWS: tuple[View, ...] = (View(0.0), View(20.0), View(-20.0))


def _parse_item(item: object) -> View:
    if isinstance(item, View):
        return item
    if isinstance(item, dict):
        return View(float(item["yaw"]), float(item.get("pitch", 0.0)))
    if isinstance(item, str):
        parts = item.strip().split(":")
        if len(parts) > 2 or not parts[0]:
            raise ValueError(f"cannot parse view {item!r}: expected 'yaw' or 'yaw:pitch'")
        return View(*(float(p) for p in parts))
    if isinstance(item, int | float):
        return View(float(item))
    if isinstance(item, Sequence) and 1 <= len(item) <= 2:
        return View(*(float(v) for v in item))
    raise ValueError(f"cannot parse view {item!r}: expected a yaw, [yaw, pitch] or 'yaw:pitch'")


def parse_views(spec: str | Iterable[object] | None) -> tuple[View, ...]:
    """Turn a parameter value into views; ``None`` gives :data:`DEFAULT_VIEWS`.

    >>> [v.name for v in parse_views("0,20,-20")]
    ['yaw+0_pitch+0', 'yaw+20_pitch+0', 'yaw-20_pitch+0']
    >>> parse_views([[0, 0], [20, 10]])[1]
    View(yaw=20.0, pitch=10.0)

    Raises ``ValueError`` for an empty list or a repeated view (their files would collide).
    """
    if spec is None:
        return DEFAULT_VIEWS
    items = [s for s in spec.split(",") if s.strip()] if isinstance(spec, str) else list(spec)
    views = tuple(_parse_item(item) for item in items)
    if not views:
        raise ValueError("at least one view is needed")
    names = [v.name for v in views]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"repeated views: {duplicates}")
    return views

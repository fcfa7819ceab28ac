"""How scans become images, as settings: what ``params:render`` says, checked, without VTK.

Why a module of its own: the render pipeline's planning, the predictor's reading of a model's
render record and the pretraining's modality names all need these settings, and none of them
draws. Kept apart from :mod:`facevlm.render.renderer` (which imports VTK and pyvista), they let
a Kedro session list its pipelines and train from renders made earlier on a machine where VTK
is missing or cannot draw offscreen (a GPU node of a cluster, say); only drawing needs VTK.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from facevlm.render.face_pose import POSE_MODES
from facevlm.render.views import DEFAULT_VIEWS, View, parse_views

MODALITIES = ("texture", "shaded", "depth")
#: Joins the modalities of a mixed render setting (``modality: texture+shaded``).
MODALITY_SEPARATOR = "+"
#: Keys of ``params:render`` that plan the render rather than set how a view looks (which frames
#: of a sequence, which datasets, how many processes): not :class:`RenderSettings` fields.
RENDER_PLAN_KEYS = ("frames", "n_workers", "datasets")
#: Keys ``params:render`` had once and has no more (``cache_dir`` is ``params:caches.renders``
#: now). The predictor ignores them, so that a project configured before still serves its
#: models; the render pipeline refuses them like any unknown key, so that a stale setting does
#: not silently do nothing.
RETIRED_RENDER_KEYS = ("cache_dir",)


@dataclass(frozen=True)
class RenderSettings:
    """How scans become images; frozen and hashable so it can key caches and cross processes.

    Attributes:
        size: width = height of each view, pixels.
        views: camera views; anything :func:`~facevlm.render.views.parse_views` accepts.
        modality: ``texture`` | ``shaded`` | ``depth`` (:mod:`facevlm.render.renderer` says how
            each looks).
        background: RGB 0-255 behind the face (``depth`` always uses black).
        lighting: light the surface? ``None`` = the modality's default (``texture`` unlit,
            ``shaded`` lit); ``depth`` ignores it.
        fill: fraction of the image height spanned by the face box (the robust sphere).
        pose: ``estimate`` (find the face and turn it face-forward, refuse a mesh without one;
            what the project's ``params:render`` says) or ``as_stored`` (a dataset known to be
            stored face-forward and cropped to the face; the default here, so that code that
            builds settings itself keeps the scan's axes unless it asks).
    """

    size: int = 224
    views: tuple[View, ...] = DEFAULT_VIEWS
    modality: str = "texture"
    background: tuple[int, int, int] = (0, 0, 0)
    lighting: bool | None = None
    fill: float = 0.9
    pose: str = "as_stored"

    def __post_init__(self) -> None:
        object.__setattr__(self, "views", parse_views(self.views))
        object.__setattr__(self, "background", tuple(int(c) for c in self.background))
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if not 8 <= int(self.size) <= 4096:
            raise ValueError(f"size must be between 8 and 4096 pixels, got {self.size}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be three values 0-255, got {self.background}")
        if not 0.0 < self.fill <= 1.0:
            raise ValueError(f"fill must be in (0, 1], got {self.fill}")
        if self.pose not in POSE_MODES:
            raise ValueError(f"pose must be one of {POSE_MODES}, got {self.pose!r}")
        if self.modality == "shaded" and self.lighting is False:
            raise ValueError("shaded without lighting would be a flat grey silhouette")

    @property
    def lit(self) -> bool:
        """Whether the surface is lit (resolves ``lighting=None`` per modality)."""
        if self.modality == "depth":
            return False
        return self.modality == "shaded" if self.lighting is None else bool(self.lighting)

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any] | None, ignore: Iterable[str] = ()
    ) -> RenderSettings:
        """Build from a parameters dict (Kedro ``params:render``).

        Keys in ``ignore`` belong to someone else (e.g. ``frames``, ``n_workers``); any other
        unknown key is an error, so a typo in the YAML does not silently fall back to a default.
        """
        params = {k: v for k, v in (params or {}).items() if k not in set(ignore)}
        unknown = sorted(set(params) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown render settings {unknown}")
        if "background" in params:
            params["background"] = tuple(params["background"])
        return cls(**params)


def parse_modalities(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The modalities a render setting names: ``texture`` is one, ``texture+shaded`` (or a list)
    several. A render set made with several holds every sample once in each, in this order;
    the first is the one a single render of a new scan uses when it can (a scan without a
    texture falls back to ``shaded``, see :mod:`facevlm.inference.scan_files`).

    Raises:
        ValueError: an unknown or repeated modality, or none.
    """
    if value is None:
        return ("texture",)
    parts = value.split(MODALITY_SEPARATOR) if isinstance(value, str) else list(value)
    modalities = tuple(str(p).strip() for p in parts)
    unknown = [m for m in modalities if m not in MODALITIES]
    if not modalities or unknown or len(set(modalities)) != len(modalities):
        raise ValueError(
            f"modality must be one of {MODALITIES} or several joined by "
            f"{MODALITY_SEPARATOR!r} (texture+shaded), got {value!r}"
        )
    return modalities


def split_render_params(
    render: Mapping[str, Any], ignore: Iterable[str] = ()
) -> tuple[RenderSettings, dict[str, Any]]:
    """``params:render`` (or a model's render record) as the settings of one renderer and the
    render plan: each of :data:`RENDER_PLAN_KEYS`, None where not given.

    The render pipeline and the predictor both split it here, so that what a model was trained
    with and what a new scan is rendered with are read alike. The settings take the first of
    several modalities (``texture+shaded``): a renderer draws one, and the render pipeline
    renders the others one after the other. Keys in ``ignore`` are dropped too; any other key
    that is no setting is an error (:meth:`RenderSettings.from_params`).
    """
    render = {**render, "modality": parse_modalities(render.get("modality"))[0]}
    settings = RenderSettings.from_params(render, ignore=(*RENDER_PLAN_KEYS, *ignore))
    return settings, {k: render.get(k) for k in RENDER_PLAN_KEYS}

"""The render settings a model was trained with, so that a new scan is rendered as its training
data was.

A bundle carries the render record of its training data (``info["render"]``: the settings and
``frames``); a bundle without one is rendered with the project's ``params:render``. Both are read
by :func:`facevlm.render.renderer.split_render_params`, as the render pipeline reads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from facevlm.models.model_bundle import ModelBundle
from facevlm.render.frames import LABEL_FREE_FRAMES
from facevlm.render.renderer import (
    RETIRED_RENDER_KEYS,
    RenderSettings,
    parse_modalities,
    split_render_params,
)


def render_settings_for(
    bundle: ModelBundle, render_params: Mapping[str, Any], modality: str | None = None
) -> tuple[RenderSettings, str]:
    """The render settings and frame spec the model was trained with.

    ``bundle.info["render"]`` (the render record of its training data) wins when present; else
    the project's ``params:render``. The views are cut to the model's ``n_views`` (the frontal
    view comes first) when the model was trained on fewer views than are configured. A model
    trained on several modalities (``texture+shaded``) renders in the first unless ``modality``
    says otherwise (:func:`trained_modalities` lists them all).
    """
    params = bundle.info.get("render") or render_params or {}
    settings, plan = split_render_params(params, ignore=RETIRED_RENDER_KEYS)
    frames = str(plan["frames"] or LABEL_FREE_FRAMES)
    if modality is not None:
        settings = dataclasses.replace(settings, modality=modality)
    n_views = int(bundle.model_config.get("n_views", len(settings.views)))
    if n_views > len(settings.views):
        raise ValueError(
            f"the model takes {n_views} views but the render settings give {len(settings.views)}"
        )
    if n_views < len(settings.views):
        settings = dataclasses.replace(settings, views=settings.views[:n_views])
    return settings, frames


def trained_modalities(
    bundle: ModelBundle, render_params: Mapping[str, Any] | None = None
) -> list[str]:
    """The render modalities the model saw in training: those its familiarity statistics
    record, else its render record's (or the project's) ``modality``; empty when unknown."""
    recorded = (bundle.familiarity or {}).get("modality")
    if not recorded:
        recorded = (bundle.info.get("render") or render_params or {}).get("modality")
    return list(parse_modalities(recorded)) if recorded else []

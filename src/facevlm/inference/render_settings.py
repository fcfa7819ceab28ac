"""The render settings a model was trained with, so that a new scan is rendered as its training
data was.

A bundle carries the render record of its training data (``info["render"]``: the settings and
``frames``); a bundle without one is rendered with the project's ``params:render``. Both are read
by :func:`facevlm.render.settings.split_render_params`, as the render pipeline reads them.

A model trained with ``experiment.data.frames: views`` (the 4D namespaces) reads a whole
sequence as one sample: its selected frames' views stacked frame-major, so its ``n_views`` is
frames x views. Its bundle records that (``info["sample_frames"]``: ``{"frames": "views",
"frames_per_sample": K}``); a bundle saved before the record existed is read as one sample per
frame, as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from facevlm.models.model_bundle import SAMPLE_FRAMES, ModelBundle
from facevlm.render.frames import LABEL_FREE_FRAMES, parse_frames
from facevlm.render.settings import (
    RETIRED_RENDER_KEYS,
    RenderSettings,
    parse_modalities,
    split_render_params,
)


def stacked_frames(bundle: ModelBundle, frames: str) -> int | None:
    """How many frames of a sequence the model reads stacked as one sample (``frames: views``
    in training), or None when each frame is a sample of its own (or the frames are pooled into
    one image, which leaves one frame's worth of views). ``frames`` is the render frame spec."""
    record = bundle.info.get(SAMPLE_FRAMES) or {}
    count = record.get("frames_per_sample")
    if record.get("frames") != "views" or not count or parse_frames(frames).pooled:
        return None
    return int(count)


def render_settings_for(
    bundle: ModelBundle, render_params: Mapping[str, Any], modality: str | None = None
) -> tuple[RenderSettings, str, int | None]:
    """The render settings and frame spec the model was trained with, and how many frames it
    reads stacked as one sample (:func:`stacked_frames`; None: a frame is a sample).

    ``bundle.info["render"]`` (the render record of its training data) wins when present; else
    the project's ``params:render``. The views (per frame, for a stacked-frame model) are cut
    to the model's ``n_views`` (the frontal view comes first) when the model was trained on
    fewer views than are configured. A model trained on several modalities (``texture+shaded``)
    renders in the first unless ``modality`` says otherwise (:func:`trained_modalities` lists
    them all).
    """
    params = bundle.info.get("render") or render_params or {}
    settings, plan = split_render_params(params, ignore=RETIRED_RENDER_KEYS)
    frames = str(plan["frames"] or LABEL_FREE_FRAMES)
    if modality is not None:
        settings = dataclasses.replace(settings, modality=modality)
    n_views = int(bundle.model_config.get("n_views", len(settings.views)))
    stacked = stacked_frames(bundle, frames)
    if stacked is not None:
        if n_views % stacked:
            raise ValueError(
                f"the model takes {n_views} views, not a whole number of views for each of "
                f"the {stacked} frames it reads of a sequence"
            )
        n_views //= stacked
    if n_views > len(settings.views):
        per_frame = "" if stacked is None else f" of each of {stacked} frames"
        raise ValueError(
            f"the model takes {n_views} views{per_frame} but the render settings give "
            f"{len(settings.views)}"
        )
    if n_views < len(settings.views):
        settings = dataclasses.replace(settings, views=settings.views[:n_views])
    return settings, frames, stacked


def trained_modalities(
    bundle: ModelBundle, render_params: Mapping[str, Any] | None = None
) -> list[str]:
    """The render modalities the model saw in training: those its familiarity statistics
    record, else its render record's (or the project's) ``modality``; empty when unknown."""
    recorded = (bundle.familiarity or {}).get("modality")
    if not recorded:
        recorded = (bundle.info.get("render") or render_params or {}).get("modality")
    return list(parse_modalities(recorded)) if recorded else []

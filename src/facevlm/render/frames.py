"""Which frames of a 4D sequence to render, how to pool a sequence into one dynamic image, and
what sample(s) the model reads of the rendered frames (:func:`frames_to_samples`).

The ``frames`` parameter (``docs/methods.md``) takes one of:

- ``apex``: one frame, the labelled apex if known, else the middle frame ``(T - 1) // 2``
  (BU-4DFE sequences run neutral -> onset -> apex -> offset -> neutral, so the middle is the
  best unlabelled guess).
- ``uniform:K``: K frames at the *centres* of K equal segments, ``floor((k + 0.5) T / K)``.
  DECIDED: ends excluded. BU-4DFE sequences start and end neutral, so including the ends would
  spend two of ``uniform:3``'s three frames on neutral faces; centres give roughly onset, apex
  and offset. Always K indices, even when ``K > T`` (frames repeat), so batches stack.
- ``onset_apex_offset``: the three labelled frames (4DME); an error without labels.
- ``dynamic_image`` or ``dynamic_image:K``: all frames (or K uniform ones) to be pooled by
  :func:`dynamic_image`; with onset and offset labels, only the frames from onset to offset.
- ``magnified`` or ``magnified:A``: the onset and apex frames (labelled, else the first and the
  middle frame), pooled by :func:`magnify` into the apex with its change from the onset
  amplified A times (default :data:`DEFAULT_MAGNIFICATION`): a micro-expression made to look
  like the posed expression a pretrained backbone knows.
- ``surface_motion``: the onset and apex frames (as ``magnified``), turned into one map of how
  far the face's surface moved between them, measured on the meshes and painted on the apex
  (:mod:`facevlm.render.surface_motion`); pooled from the meshes, before rendering.

Frame indices are 0-based positions in the sequence as given (sorted frame files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")

FRAME_MODES = (
    "apex",
    "uniform",
    "onset_apex_offset",
    "dynamic_image",
    "magnified",
    "surface_motion",
)
#: ``frames`` when ``params:render`` names none: one frame, the apex (labelled, else the middle).
DEFAULT_FRAMES = "apex"
#: The frames a prediction of an uploaded sequence averages when the model's ``frames`` is
#: recorded nowhere (neither its bundle nor ``params:render`` names one), and the stand-in for
#: ``onset_apex_offset``, whose phase labels an upload does not have: three frames at segment
#: centres, roughly onset, apex and offset. The first use differs from :data:`DEFAULT_FRAMES`,
#: which the render pipeline would have used for such a model's training data.
LABEL_FREE_FRAMES = "uniform:3"
#: Modes whose selected frames are pooled into one image per view.
POOLED_MODES = ("dynamic_image", "magnified", "surface_motion")
#: Pooled modes that pool the frames' meshes (before rendering), not their images.
MESH_POOLED_MODES = ("surface_motion",)
#: Magnification of ``magnified`` without a factor: the built-in clips' apex is 0.2-0.45 of a
#: posed expression, so 4 brings most of them to about one (not a measured optimum;
#: docs/what-we-tried/sequences.md).
DEFAULT_MAGNIFICATION = 4


@dataclass(frozen=True)
class FrameSpec:
    """A parsed ``frames`` parameter: the mode and, for ``uniform``/``dynamic_image``, the frame
    count K; for ``magnified``, the magnification factor."""

    mode: str
    k: int | None = None

    @property
    def pooled(self) -> bool:
        """Whether the selected frames are pooled into one image (:func:`pool_frames`)."""
        return self.mode in POOLED_MODES

    @property
    def pooled_meshes(self) -> bool:
        """Whether the pooling reads the frames' meshes rather than their rendered images."""
        return self.mode in MESH_POOLED_MODES


@dataclass(frozen=True)
class PhaseLabels:
    """Labelled frame indices of a sequence (any may be unknown)."""

    onset: int | None = None
    apex: int | None = None
    offset: int | None = None


def parse_frames(spec: str | FrameSpec) -> FrameSpec:
    """Parse ``apex``, ``uniform:K``, ``onset_apex_offset``, ``dynamic_image[:K]``,
    ``magnified[:A]``, ``surface_motion``.

    >>> parse_frames("uniform:3")
    FrameSpec(mode='uniform', k=3)
    """
    if isinstance(spec, FrameSpec):
        return spec
    mode, _, count = spec.strip().partition(":")
    if mode not in FRAME_MODES:
        raise ValueError(
            f"frames must be one of {FRAME_MODES} (with ':K' for uniform), got {spec!r}"
        )
    if mode == "uniform" and not count:
        raise ValueError(f"uniform needs a frame count, e.g. 'uniform:3', got {spec!r}")
    if count and mode in ("apex", "onset_apex_offset", "surface_motion"):
        raise ValueError(f"{mode} takes no frame count, got {spec!r}")
    k = None
    if count:
        try:
            k = int(count)
        except ValueError:
            raise ValueError(f"{_count_name(mode)} must be an integer, got {spec!r}") from None
        if k < 1:
            raise ValueError(f"{_count_name(mode)} must be at least 1, got {spec!r}")
    return FrameSpec(mode, k)


def _count_name(mode: str) -> str:
    return "magnification factor" if mode == "magnified" else "frame count"


def uniform_indices(n_frames: int, k: int) -> list[int]:
    """K indices at the centres of K equal segments of ``range(n_frames)`` (ends excluded)."""
    return [int((i + 0.5) * n_frames / k) for i in range(k)]


def _check(index: int | None, n_frames: int, name: str) -> int:
    if index is None:
        raise ValueError(f"frames=onset_apex_offset needs the {name} frame labelled")
    if not 0 <= index < n_frames:
        raise ValueError(f"{name} frame {index} is outside the sequence (0..{n_frames - 1})")
    return int(index)


def apex_position(n_frames: int, labels: PhaseLabels | None = None) -> int:
    """The position of a sequence's apex: the labelled one, else the middle frame
    ``(n_frames - 1) // 2``. The one apex of ``apex``, ``magnified`` and ``surface_motion`` (the
    frame a motion map is painted on), and the frame the face reader reads of a sequence, so
    that both readers look at the same moment of it."""
    if n_frames < 1:
        raise ValueError("the sequence has no frames")
    labels = labels or PhaseLabels()
    if labels.apex is not None:
        return _check(labels.apex, n_frames, "apex")
    return (n_frames - 1) // 2


def select_frames(
    n_frames: int, spec: str | FrameSpec, labels: PhaseLabels | None = None
) -> list[int]:
    """Indices of the frames to render for a sequence of ``n_frames`` (see the module docstring)."""
    if n_frames < 1:
        raise ValueError("the sequence has no frames")
    spec = parse_frames(spec)
    labels = labels or PhaseLabels()
    if spec.mode == "apex":
        return [apex_position(n_frames, labels)]
    if spec.mode == "uniform":
        return uniform_indices(n_frames, spec.k or 1)
    if spec.mode == "onset_apex_offset":
        return [
            _check(labels.onset, n_frames, "onset"),
            _check(labels.apex, n_frames, "apex"),
            _check(labels.offset, n_frames, "offset"),
        ]
    if spec.mode in ("magnified", "surface_motion"):
        onset = _check(labels.onset if labels.onset is not None else 0, n_frames, "onset")
        apex = apex_position(n_frames, labels)
        if apex < onset:
            raise ValueError(f"apex {apex} comes before onset {onset}")
        return [onset, apex]
    # dynamic_image: the labelled onset..offset span when known, else the whole sequence
    start, stop = 0, n_frames
    if labels.onset is not None and labels.offset is not None:
        start = _check(labels.onset, n_frames, "onset")
        stop = _check(labels.offset, n_frames, "offset") + 1
        if stop <= start:
            raise ValueError(f"offset {labels.offset} comes before onset {labels.onset}")
    span = stop - start
    if spec.k is None or spec.k >= span:
        return list(range(start, stop))
    return [start + i for i in uniform_indices(span, spec.k)]


def pick(frames: Sequence[T], spec: str | FrameSpec, labels: PhaseLabels | None = None) -> list[T]:
    """The selected items (frame paths or meshes) of a sequence, in order."""
    return [frames[i] for i in select_frames(len(frames), spec, labels)]


def rank_pooling_weights(n_frames: int) -> np.ndarray:
    """Approximate rank pooling coefficients of Bilen et al. (CVPR 2016), ``(T,)`` float64.

    ``alpha_t = 2 (T - t + 1) - (T + 1) (H_T - H_{t-1})`` for ``t = 1..T`` with harmonic numbers
    ``H_t = sum_{i<=t} 1/i`` (``H_0 = 0``). They sum to zero, negative for the early frames and
    positive for the late ones, so the pooled image encodes the direction of change over time.
    """
    t = np.arange(1, n_frames + 1, dtype=np.float64)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / t)])  # H_0 .. H_T
    return 2.0 * (n_frames - t + 1) - (n_frames + 1) * (harmonic[n_frames] - harmonic[:-1])


def dynamic_image(images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Pool ``(T, ..., H, W, C)`` frames into one ``(..., H, W, C)`` uint8 dynamic image.

    Each output image (the last three axes; e.g. each view of ``(T, V, H, W, 3)``) is rescaled
    on its own to 0-255 by min-max over all its pixels and channels (as in Bilen et al.'s code;
    channels share one scale so colours keep their balance). A sequence without change pools to
    zero everywhere and is returned as flat mid-grey (128).
    """
    frames = np.asarray(images, dtype=np.float64)
    if frames.ndim < 4:
        raise ValueError(f"expected (T, ..., H, W, C) frames, got shape {frames.shape}")
    weights = rank_pooling_weights(len(frames))
    pooled = np.tensordot(weights, frames, axes=(0, 0))
    low = pooled.min(axis=(-3, -2, -1), keepdims=True)
    high = pooled.max(axis=(-3, -2, -1), keepdims=True)
    span = high - low
    # the weights sum to zero only up to rounding: a static sequence leaves a residue of about
    # eps * sum|alpha| * max|frame|, which min-max scaling must not blow up into an image
    tolerance = 1e-9 * np.abs(weights).sum() * max(1.0, float(np.abs(frames).max()))
    flat = span <= tolerance
    scaled = np.divide(pooled - low, span, out=np.full_like(pooled, 128.0 / 255.0), where=~flat)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def magnify(onset: np.ndarray, apex: np.ndarray, factor: float) -> np.ndarray:
    """The ``apex`` image with its change from ``onset`` amplified: ``onset + factor * (apex -
    onset)``, clipped to 0-255 uint8 (any shape, e.g. ``(V, H, W, 3)`` views).

    Why: a micro-expression is a posed expression at a fraction of its intensity, a pixel or
    less of motion in a CPU-sized render. Linear Eulerian magnification (Wu et al., SIGGRAPH
    2012; used for micro-expressions by Li et al., IEEE TAC 2018) scales the small intensity
    change between two frames, which for small motion is the motion scaled. Unlike a dynamic
    image, the result still looks like a face, so a backbone pretrained on posed expressions
    reads it as one. ``factor=1`` gives the apex back.
    """
    first = np.asarray(onset, dtype=np.float64)
    last = np.asarray(apex, dtype=np.float64)
    if first.shape != last.shape:
        raise ValueError(f"onset {first.shape} and apex {last.shape} images differ in shape")
    amplified = first + float(factor) * (last - first)
    return np.clip(np.round(amplified), 0, 255).astype(np.uint8)


def pool_frames(frames: Sequence[np.ndarray] | np.ndarray, spec: str | FrameSpec) -> np.ndarray:
    """Pool the selected frames ``(T, ..., H, W, 3)`` of a pooled mode into one image each,
    e.g. ``(T, V, H, W, 3)`` into one per view (``dynamic_image``: rank pooling over all of
    them, each image scaled on its own; ``magnified``: frame 0 is the onset, frame 1 the apex)."""
    spec = parse_frames(spec)
    if spec.mode == "dynamic_image":
        return dynamic_image(frames)
    if spec.mode == "magnified":
        if len(frames) != 2:
            raise ValueError(f"magnified pools an onset and an apex frame, got {len(frames)}")
        return magnify(frames[0], frames[1], spec.k or DEFAULT_MAGNIFICATION)
    if spec.pooled_meshes:
        raise ValueError(
            f"frames={spec.mode} pools the frames' meshes, not their images: "
            "see facevlm.render.surface_motion"
        )
    raise ValueError(f"frames={spec.mode} is not pooled")


def frames_to_samples(
    frame_views: Sequence[np.ndarray] | np.ndarray,
    pooling: str | FrameSpec | None = None,
    as_views: bool = False,
) -> np.ndarray:
    """The sample(s) the model reads of a sequence's selected frames, from their rendered views.

    ``frame_views`` is ``(T, V, H, W, 3)``: every view of each selected frame, in frame order.
    The result is ``(N, V', H, W, 3)``:

    - ``pooling`` a pooled mode (``dynamic_image``, ``magnified``): one sample, each view pooled
      over the frames on its own (:func:`pool_frames`);
    - else with ``as_views`` (``experiment.data.frames: views``): one sample of ``T × V`` views,
      frame-major (every view of the first frame, then of the second ...), so a learned fusion
      can weigh onset, apex and offset differently;
    - else each frame is a sample of its own (``N = T``; a static scan is one such frame).

    Why one function: the render pipeline and the training data make the samples a model is
    trained on, the predictor those it is asked about; a sample made differently in either
    place is one the model never saw. ``surface_motion`` pools the frames' meshes before
    rendering (:mod:`facevlm.render.surface_motion`), so it has no views to pool here.
    """
    spec = None if pooling is None else parse_frames(pooling)
    if spec is not None and spec.pooled:
        return pool_frames(frame_views, spec)[None]
    frames = np.asarray(frame_views)
    if as_views:
        return frames.reshape(1, -1, *frames.shape[2:])
    return frames

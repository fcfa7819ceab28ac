"""MediaPipe's Face Landmarker as a reader of facial actions: an RGB image → 51 blend-shape scores.

Why a second, independent reader: the project's models learn every expression from synthetic
faces, and nothing in their own features tells when they are wrong on a real person's face. The
Face Landmarker was trained on real photographs; its blend-shape scores (ARKit's names:
``mouthSmileLeft``, ``browInnerUp``, ``noseSneerRight`` ...) say what a face does in terms that
do not depend on how our models learned. A small head on those scores
(:mod:`facevlm.face_reader.head`) reads the expression; where it and the model agree, the answer
has two grounds (:mod:`facevlm.face_reader.agreement`).

The model file ships inside this package (``face_landmarker.task``, Apache-2.0, see its
``.LICENSE``): MediaPipe would otherwise download it from Google at run time, and the project runs
without a network. ``mediapipe`` is imported only when a landmarker is made, so that importing
this module costs nothing.

    >>> with FaceLandmarker() as landmarker:
    ...     scores = landmarker.blendshapes(rgb)        # (51,) float32, or None: no face found
    ...     table = landmarker.read_images(images)      # (N, 51), NaN rows where none was found
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

#: The landmarker's 51 blend-shape scores in its output order: ARKit's 52 but ``tongueOut``, which
#: it does not read (its ``_neutral`` category is left out too: it is always 0 and names nothing).
BLENDSHAPE_NAMES = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip
#: The file of the model bundle inside this package.
MODEL_FILE = "face_landmarker.task"


class LandmarkerUnavailable(RuntimeError):
    """MediaPipe is not installed, or its model file is missing: says what to install."""


def model_path() -> Path:
    """The vendored ``face_landmarker.task`` (raises :class:`LandmarkerUnavailable` if absent)."""
    path = Path(str(resources.files("facevlm.face_reader").joinpath(MODEL_FILE)))
    if not path.is_file():
        raise LandmarkerUnavailable(
            f"{path}: the Face Landmarker's model file is missing from the installed package; "
            "reinstall facevlm (pip install -e .)"
        )
    return path


def _close_quietly(landmarker: Any) -> None:
    """Close a MediaPipe landmarker, at exit too: MediaPipe closes through a thread pool that
    the interpreter has shut down by then, and its own ``__del__`` would print that error; the
    graph goes with the process anyway, so it is only marked closed."""
    try:
        landmarker.close()
    except Exception:
        landmarker._handle = None  # what MediaPipe's close() checks: nothing left to close


class FaceLandmarker:
    """One MediaPipe Face Landmarker (image mode, one face), made once and used for many images.

    Not thread-safe: MediaPipe's graph serves one call at a time, so give each thread its own.
    Close it, or use it as a context manager, to free MediaPipe's graph before the object goes.

    Args:
        min_detection_confidence: the face detector's threshold. The default is MediaPipe's; a
            shaded render of a face is read like a photograph at it.
    """

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        try:
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError as error:  # pragma: no cover - mediapipe is a dependency
            raise LandmarkerUnavailable(
                f"the Face Landmarker needs mediapipe ({error}): pip install -c constraints.txt "
                "mediapipe"
            ) from error
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path())),
            running_mode=vision.RunningMode.IMAGE,
            output_face_blendshapes=True,
            num_faces=1,
            min_face_detection_confidence=float(min_detection_confidence),
            min_face_presence_confidence=float(min_detection_confidence),
        )
        self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self._closer = weakref.finalize(self, _close_quietly, self._landmarker)

    def blendshapes(self, rgb: np.ndarray) -> np.ndarray | None:
        """``(H, W, 3)`` uint8 RGB image → ``(51,)`` float32 scores in :data:`BLENDSHAPE_NAMES`
        order, or None when the landmarker finds no face in it."""
        import mediapipe as mp

        image = np.ascontiguousarray(np.asarray(rgb)[..., :3], dtype=np.uint8)
        if image.ndim != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {np.shape(rgb)}")
        result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
        if not result.face_blendshapes:
            return None
        scores = {c.category_name: c.score for c in result.face_blendshapes[0]}
        return np.array([scores.get(name, 0.0) for name in BLENDSHAPE_NAMES], dtype=np.float32)

    def read_images(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Every image's scores as one ``(N, 51)`` float32 table; a row of NaN where no face
        was found (the caller decides what a face it cannot read means)."""
        rows = []
        for image in images:
            scores = self.blendshapes(image)
            rows.append(
                np.full(len(BLENDSHAPE_NAMES), np.nan, np.float32) if scores is None else scores
            )
        return np.stack(rows) if rows else np.zeros((0, len(BLENDSHAPE_NAMES)), np.float32)

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

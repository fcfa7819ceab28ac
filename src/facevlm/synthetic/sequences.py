"""4D synthetic data: expression sequences over time and micro-expression clips.

Why profiles and clips apart from the geometry: the temporal structure is what the 4D datasets
are about — BU-4DFE sequences go neutral → onset → apex → offset → neutral, 4DME clips are short,
faint and labelled with onset/apex/offset frame indices — and readers, frame samplers
(``apex``, ``uniform:K``) and tests all rely on it. A profile is a number per frame (how far the
expression is developed); the frames are the head deformed by the expression's activation scaled
by that number, plus a little per-frame jitter so no two frames are identical (a scanner never
captures the same surface twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facevlm.scans.labels import EMOTION_TO_MICRO_CLASS, MICRO_EXPRESSION_CLASSES
from facevlm.synthetic.expressions import (
    EMOTION_RECIPES,
    Activation,
    au_displacement,
    scale_activation,
)
from facevlm.synthetic.ict_facekit.head import IctHead
from facevlm.synthetic.procedural.head import SyntheticHead
from facevlm.synthetic.procedural.shapes import smoothstep

#: Default frames of a micro-expression clip.
DEFAULT_CLIP_FRAMES = 10
#: Apex intensity range of a micro-expression (a fraction of a posed full expression). The
#: lower end keeps them faint; the upper end keeps the apex at about a pixel of motion or more
#: in the 64 px renders of the CPU default (0.3 left most clips below the scanner's jitter).
MICRO_MIN_INTENSITY = 0.2
MICRO_MAX_INTENSITY = 0.45


def sequence_profile(
    n_frames: int, onset: float = 0.15, apex: tuple[float, float] = (0.4, 0.6), offset: float = 0.85
) -> np.ndarray:
    """Expression development per frame: 0 (neutral) → 1 (apex) → 0.

    Frames before ``onset`` and after ``offset`` (fractions of the sequence) are neutral, the
    plateau ``apex`` is fully developed, the ramps between are smooth. The first and last
    frames are always exactly 0 and the peak lies in the middle of the sequence.
    """
    if n_frames < 5:
        raise ValueError(f"a sequence needs at least 5 frames, got {n_frames}")
    t = np.linspace(0.0, 1.0, n_frames)
    rise = smoothstep(onset, apex[0], t)
    fall = 1.0 - smoothstep(apex[1], offset, t)
    profile = np.minimum(rise, fall)
    profile[0] = profile[-1] = 0.0
    return profile


def random_sequence_profile(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`sequence_profile` with the timing of one performance: onset, apex plateau and
    offset each shifted a little (still neutral at both ends, apex in the middle)."""
    return sequence_profile(
        n_frames,
        onset=float(rng.uniform(0.10, 0.20)),
        apex=(float(rng.uniform(0.35, 0.45)), float(rng.uniform(0.55, 0.65))),
        offset=float(rng.uniform(0.80, 0.90)),
    )


def clip_profile(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Profile of a clip with given onset/apex/offset frame indices: 0 up to ``onset``, 1 at
    ``apex``, back to 0 at ``offset`` and after."""
    if not 0 <= onset < apex < offset < n_frames:
        raise ValueError(
            f"need 0 <= onset < apex < offset < n_frames, got {onset}, {apex}, {offset}, {n_frames}"
        )
    k = np.arange(n_frames, dtype=np.float64)
    return np.minimum(smoothstep(onset, apex, k), 1.0 - smoothstep(apex, offset, k))


def rigid_motion(
    vertices: np.ndarray,
    rng: np.random.Generator,
    rotation_deg: float = 0.6,
    shift_mm: float = 0.4,
) -> np.ndarray:
    """``vertices`` after a small random rigid motion (rotation about their centroid, shift):
    the head moving a little between two captures."""
    angles = np.radians(rng.normal(0.0, rotation_deg / 2.0, 3))
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    centre = vertices.mean(axis=0)
    return (vertices - centre) @ (rz @ ry @ rx).T + centre + rng.normal(0.0, shift_mm / 2.0, 3)


def scanner_noise(
    vertices: np.ndarray, rng: np.random.Generator, noise_mm: float = 0.03
) -> np.ndarray:
    """``vertices`` as the scanner measured them: each off by a little Gaussian noise."""
    if noise_mm <= 0:
        return vertices
    return vertices + rng.normal(0.0, noise_mm, vertices.shape)


def expression_offsets(head: SyntheticHead | IctHead, activation: Activation) -> np.ndarray:
    """``(V, 3)`` vertex offsets (mm) of an action-unit ``activation`` on either kind of face:
    the procedural head's unit fields, or the ICT-FaceKit blend shapes the units map to."""
    if isinstance(head, IctHead):
        return head.displacement(activation)
    return au_displacement(head, activation)


@dataclass(frozen=True)
class CapturedFrame:
    """One frame of a 4D capture, twice: where the face was, and what the scanner measured.

    Why both: the camera photographs the face itself, so a frame's texture is shaded from the
    ``surface``; the scanner's measurement noise is in the mesh it writes (``scanned``) only.
    Shading a photograph from noisy vertices put a fresh speckle into every frame's texture,
    which dynamic images of faint micro-expressions picked up as motion.
    """

    surface: np.ndarray  # (N, 3): the expression at this frame, moved with the head
    scanned: np.ndarray  # (N, 3): ``surface`` plus the scanner's per-vertex noise


def capture_frames(
    head: SyntheticHead | IctHead,
    activation: Activation,
    profile: np.ndarray,
    rng: np.random.Generator | None = None,
) -> list[CapturedFrame]:
    """Every frame of a 4D capture: ``activation`` scaled by ``profile``, moved a little with
    the head and measured with noise per frame (with ``rng``; without it the frames are exact
    and ``surface`` and ``scanned`` coincide, for tests)."""
    full = expression_offsets(head, activation)
    frames = []
    for p in profile:
        v = head.mesh.vertices + float(p) * full
        if rng is None:
            frames.append(CapturedFrame(v, v))
            continue
        surface = rigid_motion(v, rng)
        frames.append(CapturedFrame(surface, scanner_noise(surface, rng)))
    return frames


# ---------------------------------------------------------------------------------- micro
@dataclass(frozen=True)
class MicroClip:
    """One 4DME-style micro-expression clip.

    Attributes:
        label: main 4DME class (:data:`MICRO_EXPRESSION_CLASSES`).
        classes: every indicator class set for the clip (the main one first).
        emotion: the basic emotion the AUs come from, or None for repression/others.
        activation: AU activation at apex (already scaled to the clip's intensity).
        onset, apex, offset: frame indices (0-based, into the clip's sorted frames).
        n_frames: frames in the clip.
        intensity: apex intensity relative to a full posed expression (≤ 0.3).
    """

    label: str
    classes: tuple[str, ...]
    emotion: str | None
    activation: Activation
    onset: int
    apex: int
    offset: int
    n_frames: int
    intensity: float
    aus: tuple[int, ...] = field(default=())

    @property
    def au_string(self) -> str:
        """The 4DME ``AUs`` cell, e.g. ``AU4+AU7``."""
        return "+".join(f"AU{au}" for au in self.aus)

    def profile(self) -> np.ndarray:
        return clip_profile(self.n_frames, self.onset, self.apex, self.offset)


#: Repression: a smile held back by lip pressing or chin raising (partial, often one-sided).
_REPRESSION_SETS: tuple[tuple[int, ...], ...] = ((12, 24), (12, 17), (12, 14), (14, 24))
#: Others: single or odd AU combinations, often one-sided.
_OTHER_SETS: tuple[tuple[int, ...], ...] = ((4,), (43,), (14,), (2,), (10,), (1, 4))


def _partial(emotion: str, rng: np.random.Generator) -> tuple[int, ...]:
    """A micro-expression shows only part of an emotion: its 1–3 strongest AUs, mostly."""
    ranked = sorted(EMOTION_RECIPES[emotion].items(), key=lambda kv: -kv[1])
    k = int(rng.integers(1, min(3, len(ranked)) + 1))
    chosen = [au for au, _ in ranked[: k + 1]]
    rng.shuffle(chosen)
    return tuple(sorted(chosen[:k]))


def make_micro_clip(
    label: str, rng: np.random.Generator, n_frames: int = DEFAULT_CLIP_FRAMES
) -> MicroClip:
    """Draw a clip of class ``label``: which AUs, one- or two-sided, how strong, and when.

    Positive/negative/surprise clips take a partial set of a matching emotion's AUs
    (:data:`~facevlm.scans.labels.EMOTION_TO_MICRO_CLASS`); repression and others use the
    suppression and odd sets above, one-sided half of the time.
    """
    if label not in MICRO_EXPRESSION_CLASSES:
        raise ValueError(
            f"unknown micro-expression class {label!r}; expected one of {MICRO_EXPRESSION_CLASSES}"
        )
    if n_frames < 6:
        raise ValueError(f"a clip needs at least 6 frames, got {n_frames}")
    emotion = None
    if label in ("positive", "negative", "surprise"):
        candidates = sorted(e for e, c in EMOTION_TO_MICRO_CLASS.items() if c == label)
        emotion = str(rng.choice(candidates))
        aus = _partial(emotion, rng)
        one_sided = rng.random() < 0.15
    elif label == "repression":
        aus = _REPRESSION_SETS[int(rng.integers(len(_REPRESSION_SETS)))]
        one_sided = rng.random() < 0.5
    else:
        aus = _OTHER_SETS[int(rng.integers(len(_OTHER_SETS)))]
        one_sided = rng.random() < 0.5
    intensity = float(rng.uniform(MICRO_MIN_INTENSITY, MICRO_MAX_INTENSITY))
    side = int(rng.integers(2))
    activation: Activation = {}
    for au in aus:
        w = 1.0 if emotion is None else EMOTION_RECIPES[emotion][au]
        activation[au] = ((w, 0.0) if side == 0 else (0.0, w)) if one_sided else (w, w)
    # onset / apex / offset: a fast rise, a slower return, inside the clip
    onset = int(rng.integers(1, max(2, n_frames // 4) + 1))
    apex = onset + int(rng.integers(2, max(3, n_frames // 3) + 1))
    offset = min(apex + int(rng.integers(2, max(3, n_frames // 3) + 1)), n_frames - 1)
    apex = min(apex, offset - 1)
    return MicroClip(
        label=label,
        classes=(label,),
        emotion=emotion,
        activation=scale_activation(activation, intensity),
        onset=onset,
        apex=apex,
        offset=offset,
        n_frames=n_frames,
        intensity=intensity,
        aus=tuple(sorted(aus)),
    )

"""FACS action units as ARKit blend-shape weights: the one mapping from codes to shapes.

Why one mapping for two users: the built-in ICT-FaceKit faces are posed by action units through
:data:`AU_SHAPES` (:class:`~facevlm.synthetic.ict_facekit.head.IctHead` reads it from here), and
the expression bank turns FACS-coded expressions into the same blend shapes through the same
table. Were there two, a bank row and a synthetic face of the same action units would disagree
on what those units do. The table lives in this lower layer so that both can import it.

Two tables, because they answer to different constraints:

- :data:`AU_SHAPES`: the units the synthetic generator animates, in ICT-FaceKit's shape names (a
  name without a side stands for its ``_L`` and ``_R`` shapes). It includes ``cheekRaiser``, an
  ICT-FaceKit shape with no ARKit channel (ARKit's cheek squint is the nearest one).
- :data:`CODED_AU_SHAPES`: units FACS coders record (CK+ codes 11, 13, 16, 18, 21, 22, 28) or
  that alone drive an ARKit channel (29 jaw thrust, 34 cheek puff), which the generator does not
  animate: ARKit channel names only, some of which ICT-FaceKit lacks.

Sides: an activation is ``AU -> weight`` or ``AU -> (image-left, image-right)`` weights, the
convention of the synthetic faces. Image left is the subject's right, so it drives the ARKit
``...Right`` channels (MediaPipe's Face Landmarker reads a smile on the image-left corner as
``mouthSmileRight``). FACS notation names the subject's side: ``L12`` is a smile on the
subject's left, image right.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES

#: Each action unit the synthetic generator animates as ICT-FaceKit blend shapes (shape weight
#: per unit of activation; a name without a side stands for its ``_L`` and ``_R`` shapes). After
#: the ARKit-to-FACS correspondence of the shapes' definitions: AU6 cheek raiser is the cheek
#: squint with the cheek raised, AU17 chin raiser pushes the lower lip (and a little of the
#: upper) up, AU23 lip tightener presses and rolls both lips in, AU25 lips part lowers the lower
#: lip, AU26 jaw drop opens the jaw part way and AU27 mouth stretch opens it further and
#: stretches the lips.
AU_SHAPES: dict[int, dict[str, float]] = {
    1: {"browInnerUp": 1.0},
    2: {"browOuterUp": 1.0},
    4: {"browDown": 1.0},
    5: {"eyeWide": 1.0},
    6: {"cheekSquint": 0.8, "cheekRaiser": 0.6},
    7: {"eyeSquint": 1.0},
    9: {"noseSneer": 1.0},
    10: {"mouthUpperUp": 1.0},
    12: {"mouthSmile": 1.0},
    14: {"mouthDimple": 1.0},
    15: {"mouthFrown": 1.0},
    17: {"mouthShrugLower": 1.0, "mouthShrugUpper": 0.3},
    20: {"mouthStretch": 1.0},
    23: {"mouthPress": 0.5, "mouthRollLower": 0.3, "mouthRollUpper": 0.3},
    24: {"mouthPress": 1.0},
    25: {"mouthLowerDown": 0.5},
    26: {"jawOpen": 0.5},
    27: {"jawOpen": 0.5, "mouthStretch": 0.3},
    43: {"eyeBlink": 1.0},
}
#: Action units that FACS codes carry beyond :data:`AU_SHAPES`, as ARKit channels (no
#: ICT-FaceKit face moves by them). AU11 nasolabial deepener deepens the fold beside the upper
#: lip, lifting it a little; AU13 sharp lip puller draws the corners up and in, puffing the
#: cheeks; AU16 lower lip depressor; AU18 lip pucker; AU21 neck tightener (the platysma draws the
#: lip corners down and out); AU22 lip funneler; AU28 lip suck rolls both lips in; AU29 jaw
#: thrust; AU34 puff; AU45 blink, the eyes closing as in AU43.
CODED_AU_SHAPES: dict[int, dict[str, float]] = {
    11: {"mouthUpperUp": 0.3},
    13: {"mouthSmile": 0.5, "cheekPuff": 0.3},
    16: {"mouthLowerDown": 1.0},
    18: {"mouthPucker": 1.0},
    21: {"mouthStretch": 0.3},
    22: {"mouthFunnel": 1.0},
    28: {"mouthRollLower": 1.0, "mouthRollUpper": 1.0},
    29: {"jawForward": 1.0},
    34: {"cheekPuff": 1.0},
    45: {"eyeBlink": 1.0},
}
#: ICT-FaceKit shapes of :data:`AU_SHAPES` that no ARKit channel holds: left out of the weights.
ICT_ONLY_SHAPES = frozenset({"cheekRaiser"})
#: Every action unit with ARKit channels.
ARKIT_AUS: frozenset[int] = frozenset(AU_SHAPES) | frozenset(CODED_AU_SHAPES)
#: FACS intensity letters (trace, slight, marked, severe, maximum) as a weight of the unit.
INTENSITY_LETTERS: dict[str, float] = {"A": 0.2, "B": 0.4, "C": 0.6, "D": 0.8, "E": 1.0}
#: ARKit channels the Face Landmarker never moves on a photograph: in the bank they carry a
#: weight only where it comes from FACS codes.
CODED_ONLY_CHANNELS = (
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "jawForward",
    "noseSneerLeft",
    "noseSneerRight",
)

_INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
#: One coded unit: an optional side (L, R: the subject's), the number, an optional intensity.
_TOKEN = re.compile(r"^(?:AU)?([LR])?(\d+)([A-E])?$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[+_,;\s]+")


@dataclass(frozen=True)
class CodedUnit:
    """One action unit as a coder wrote it.

    Attributes:
        au: the FACS number.
        side: ``"L"`` or ``"R"`` (the subject's side) for a one-sided unit, else None.
        intensity: the weight its intensity letter gives (:data:`INTENSITY_LETTERS`), or None
            where the code gives none.
    """

    au: int
    side: str | None = None
    intensity: float | None = None

    def notation(self) -> str:
        letter = {v: k for k, v in INTENSITY_LETTERS.items()}.get(self.intensity, "")
        return f"{self.side or ''}{self.au}{letter}"


def parse_action_units(codes: str | None) -> tuple[CodedUnit, ...]:
    """The units of a FACS code string, in the order written: ``"1+2+5B+L12C+25"``, NetFACS'
    ``"1_2_5_25_27"`` or ``"AU6, AU12"``. Empty, missing or ``"0"`` (FACS' neutral) is no unit.

    Raises ValueError naming the token that is not a unit.
    """
    if codes is None or (isinstance(codes, float) and np.isnan(codes)):
        return ()
    units = []
    for token in _SEPARATORS.split(str(codes).strip()):
        if not token or token == "0":
            continue
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(f"{token!r} is not a FACS action unit (e.g. 12, AU12, L12, 12C)")
        side, number, letter = match.groups()
        units.append(
            CodedUnit(
                au=int(number),
                side=side.upper() if side else None,
                intensity=INTENSITY_LETTERS[letter.upper()] if letter else None,
            )
        )
    return tuple(units)


def notation(units: tuple[CodedUnit, ...]) -> str:
    """The units as one FACS string, by number: ``"6+12+25"`` (``""`` for none)."""
    return "+".join(unit.notation() for unit in sorted(units, key=lambda u: (u.au, u.side or "")))


def expression_rng(seed: int, source: str, item: str) -> np.random.Generator:
    """The generator of one coded expression's drawn intensities: keyed by the seed and the
    expression's own name, so a row draws the same intensities whatever rows surround it."""
    return np.random.default_rng([int(seed), zlib.crc32(f"{source}\0{item}".encode())])


def draw_activation(
    units: tuple[CodedUnit, ...],
    rng: np.random.Generator,
    intensity_range: tuple[float, float] = (0.6, 1.0),
) -> dict[int, tuple[float, float]]:
    """``AU -> (image-left, image-right)`` weights of coded ``units``.

    A unit's weight is its coded intensity, or where the code gives none a draw from
    ``intensity_range`` (one draw per unit, both sides alike). A one-sided unit moves its side
    only (the subject's left is image right); a unit coded twice keeps the stronger of each side.
    Every unit takes one draw, coded or not, so that coding one unit's intensity does not change
    the others' draws.
    """
    low, high = (float(v) for v in intensity_range)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"intensity_range must be 0 <= low <= high <= 1, got {intensity_range}")
    activation: dict[int, tuple[float, float]] = {}
    for unit in units:
        drawn = float(rng.uniform(low, high))
        level = drawn if unit.intensity is None else unit.intensity
        sides = {None: (level, level), "R": (level, 0.0), "L": (0.0, level)}[unit.side]
        before = activation.get(unit.au, (0.0, 0.0))
        activation[unit.au] = (max(before[0], sides[0]), max(before[1], sides[1]))
    return activation


def arkit_weights(activation: Mapping[int, float | tuple[float, float]]) -> np.ndarray:
    """``(51,)`` float32 weights in :data:`~facevlm.face_reader.landmarker.BLENDSHAPE_NAMES`
    order of an action-unit ``activation``: each unit's channels summed, clipped to [0, 1] (the
    range of the Face Landmarker's scores, so that coded and photographed rows compare).
    A one-channel shape (``jawOpen``) takes the mean of the two sides.

    Raises KeyError for a unit with no ARKit channel (:data:`ARKIT_AUS`).
    """
    weights = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float64)
    for au, value in activation.items():
        shapes = AU_SHAPES.get(int(au)) or CODED_AU_SHAPES.get(int(au))
        if shapes is None:
            raise KeyError(f"action unit {au} has no ARKit blend shape")
        image_left, image_right = (value, value) if np.isscalar(value) else value
        for shape, gain in shapes.items():
            if shape in ICT_ONLY_SHAPES:
                continue
            if shape in _INDEX:
                weights[_INDEX[shape]] += gain * (image_left + image_right) / 2.0
            else:  # image left is the subject's right
                weights[_INDEX[f"{shape}Right"]] += gain * image_left
                weights[_INDEX[f"{shape}Left"]] += gain * image_right
    return np.clip(weights, 0.0, 1.0).astype(np.float32)


def activation_json(activation: Mapping[int, tuple[float, float]]) -> str:
    """An activation as the bank stores it: ``{"12": [0.8, 0.8], ...}`` (rounded to 1e-4)."""
    return json.dumps(
        {str(au): [round(float(v), 4) for v in sides] for au, sides in sorted(activation.items())}
    )


def activation_from_json(text: str) -> dict[int, tuple[float, float]]:
    """The activation of a bank row's ``au_activation``, as the synthetic faces take one."""
    return {int(au): (float(sides[0]), float(sides[1])) for au, sides in json.loads(text).items()}


def _check_tables() -> None:
    """Every shape of both tables is an ARKit channel (or a known ICT-only shape): a misspelt
    name would otherwise fail only when a code uses its unit."""
    for table in (AU_SHAPES, CODED_AU_SHAPES):
        for au, shapes in table.items():
            for shape in shapes:
                known = shape in _INDEX or f"{shape}Left" in _INDEX or shape in ICT_ONLY_SHAPES
                if not known:
                    raise AssertionError(f"AU{au}: {shape!r} is no ARKit channel")


_check_tables()

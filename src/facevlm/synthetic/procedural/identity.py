"""Who a synthetic subject is: demographic metadata, face proportions and colours.

Why a separate step from the mesh: the same person must look the same in every scan, every
frame and every dataset layout, whatever the expression, resolution or texture size. All the
randomness that makes one subject differ from another is drawn here, once, from the subject's
own seeded generator; :mod:`.head` and :mod:`.texture` then build geometry and texture
deterministically from it.

Proportions are in millimetres on the *face sheet*: a flat parameter plane with ``px`` across
the face (arc length around the head, 0 on the midline, negative on the subject's right, i.e.
image left in a frontal view) and ``py`` up (0 near the nose tip). The head maps the sheet onto
a curved surface; features placed on the sheet land at the same place on the mesh and in the
texture atlas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: BU-3DFE race codes and the proportions used to draw them (roughly BU-3DFE's own mix).
RACE_CODES: tuple[str, ...] = ("WH", "BL", "AE", "AM", "IN", "LA")
_RACE_WEIGHTS = np.array([0.50, 0.09, 0.22, 0.06, 0.05, 0.08])

#: Mean skin tone (sRGB) per race code; each subject jitters around it.
_SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "WH": (226, 184, 160),
    "BL": (112, 80, 66),
    "AE": (230, 194, 162),
    "AM": (206, 162, 132),
    "IN": (172, 128, 102),
    "LA": (200, 152, 120),
}

_HAIR_DARK = np.array([38.0, 28.0, 24.0])
_HAIR_BROWN = np.array([92.0, 64.0, 44.0])
_HAIR_BLOND = np.array([150.0, 118.0, 76.0])
_IRIS = {
    "brown": (84, 54, 34),
    "dark": (48, 32, 24),
    "blue": (78, 112, 150),
    "green": (86, 112, 80),
}


@dataclass(frozen=True)
class Identity:
    """Everything that makes one synthetic subject look like themselves.

    Attributes (sheet millimetres unless noted):
        gender: ``"F"`` or ``"M"`` (the BU-3DFE subject prefix).
        age: years, 18–70.
        race: BU-3DFE race code (:data:`RACE_CODES`).
        face_half_width: half-width of the head at cheekbone level (x, mm).
        head_depth: radius of the head's horizontal cross-section (z, mm).
        length_scale: vertical scale of all facial proportions (1 ≈ 185 mm chin to hairline).
        jaw_width: jaw half-width relative to ``face_half_width``.
        eye_x, eye_y: centre of the (image-right, subject's left) eye; the other is mirrored.
        eye_half_width, eye_half_height: half-size of the eye opening.
        brow_y: height of the brow centre line; brow_arch: how much the brow arches.
        brow_thickness: vertical thickness of the painted brow.
        nose_height: how far the nose tip stands out of the face (z, mm).
        nose_length: nasion to nose tip along y.
        nose_half_width: half-width at the nostril wings.
        mouth_y: height of the mouth slit; mouth_half_width: corner distance from the midline.
        upper_lip, lower_lip: vertical thickness of the red lips.
        cheek_fullness: scale of the cheek bulges (1 average).
        chin_height: prominence of the chin boss (z, mm); brow_ridge: of the brow ridge.
        hairline: height of the hairline (above it the texture is hair).
        skin, lips, hair, iris: sRGB colours (0–255 floats).
        texture_seed: seed for the skin noise of the texture, so it is subject-specific too.
        beard: 0–1 stubble shadow (men only).
    """

    gender: str
    age: int
    race: str
    face_half_width: float
    head_depth: float
    length_scale: float
    jaw_width: float
    eye_x: float
    eye_y: float
    eye_half_width: float
    eye_half_height: float
    brow_y: float
    brow_arch: float
    brow_thickness: float
    nose_height: float
    nose_length: float
    nose_half_width: float
    mouth_y: float
    mouth_half_width: float
    upper_lip: float
    lower_lip: float
    cheek_fullness: float
    chin_height: float
    brow_ridge: float
    hairline: float
    skin: tuple[float, float, float]
    lips: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    texture_seed: int
    beard: float

    # -------------------------------------------------------------- derived landmarks (sheet)
    @property
    def nasion_y(self) -> float:
        """Deepest point of the nose bridge, just above the eye line."""
        return self.eye_y + 4.0 * self.length_scale

    @property
    def tip_y(self) -> float:
        """Nose tip (pronasale) height."""
        return self.nasion_y - self.nose_length

    @property
    def subnasale_y(self) -> float:
        """Where the nose meets the upper lip."""
        return self.tip_y - 0.2 * self.nose_length

    @property
    def chin_y(self) -> float:
        """Bottom of the chin (menton): the lower edge of the face mask."""
        return self.mouth_y - 46.0 * self.length_scale

    @property
    def top_y(self) -> float:
        """Upper edge of the face mask (forehead, above the hairline for most subjects)."""
        return self.eye_y + 78.0 * self.length_scale

    @property
    def sheet_half_width(self) -> float:
        """Half-width of the sheet in ``px`` (arc length from the midline to the mask edge)."""
        return 1.42 * self.face_half_width

    def metadata(self) -> dict:
        """The demographic part, as written to the manifest (the rest is geometry)."""
        return {"gender": self.gender, "age": self.age, "ethnicity": self.race}

    def to_dict(self) -> dict:
        return asdict(self)


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))


def sample_identity(
    rng: np.random.Generator, gender: str | None = None, race: str | None = None
) -> Identity:
    """Draw one subject. ``gender``/``race`` fix the metadata; everything else is random.

    Men get wider faces, heavier brow ridges, longer noses and thinner lips on average; the
    spreads overlap, so no single measurement gives the gender away. Ethnicity moves the skin,
    hair and iris colours and nudges nose width and lip thickness.
    """
    if gender is None:
        gender = "F" if rng.random() < 0.56 else "M"
    if gender not in ("F", "M"):
        raise ValueError(f"gender must be 'F' or 'M', got {gender!r}")
    if race is None:
        race = str(rng.choice(RACE_CODES, p=_RACE_WEIGHTS / _RACE_WEIGHTS.sum()))
    if race not in RACE_CODES:
        raise ValueError(f"race must be one of {', '.join(RACE_CODES)}, got {race!r}")
    male = gender == "M"
    age = int(18 + round(52 * rng.random() ** 2))

    def n(mean: float, sd: float, low: float, high: float) -> float:
        return _clip(rng.normal(mean, sd), low, high)

    length = n(1.04 if male else 1.0, 0.035, 0.92, 1.12)
    half_width = n(75.0 if male else 71.0, 2.6, 64.0, 82.0)
    broad_nose = race in ("BL", "LA", "IN")
    full_lips = race in ("BL",)
    eye_y = 24.0 * length
    mouth_y = -44.0 * length + rng.normal(0.0, 1.5)
    nose_length = n(47.0 if male else 44.0, 2.5, 38.0, 54.0) * length
    skin = np.array(_SKIN_TONES[race]) * rng.normal(1.0, 0.05) + rng.normal(0.0, 2.0, 3)
    skin = np.clip(skin, 40, 245)
    skin[1] = min(skin[1], skin[0] - 10.0)  # skin is always red > green > blue
    skin[2] = min(skin[2], skin[1] - 8.0)
    lips = np.clip(
        0.62 * skin + 0.38 * np.array([176.0, 70.0, 78.0]) * skin.mean() / 180.0, 20, 230
    )
    lips = lips * rng.normal(1.0, 0.04)
    if race == "WH" and rng.random() < 0.45:
        hair = _HAIR_BROWN if rng.random() < 0.7 else _HAIR_BLOND
    else:
        hair = _HAIR_DARK
    hair = np.clip(hair * rng.normal(1.0, 0.12), 15, 200)
    if race == "WH":
        iris_name = str(rng.choice(["brown", "blue", "green"], p=[0.45, 0.35, 0.20]))
    else:
        iris_name = str(rng.choice(["brown", "dark"], p=[0.6, 0.4]))
    return Identity(
        gender=gender,
        age=age,
        race=race,
        face_half_width=half_width,
        head_depth=n(88.0, 4.0, 78.0, 98.0),
        length_scale=length,
        jaw_width=n(0.86 if male else 0.80, 0.04, 0.7, 0.95),
        eye_x=n(32.0, 1.5, 28.0, 36.0),
        eye_y=eye_y,
        eye_half_width=n(14.0, 0.8, 12.0, 16.0),
        eye_half_height=n(5.0, 0.45, 4.0, 6.2),
        brow_y=eye_y + n(17.0 if male else 19.0, 1.4, 14.0, 23.0),
        brow_arch=n(2.0 if male else 3.2, 0.8, 0.5, 5.0),
        brow_thickness=n(6.5 if male else 5.0, 0.8, 3.5, 8.5),
        nose_height=n(23.0 if male else 21.0, 1.6, 17.0, 27.0)
        - (2.0 if race in ("AE", "BL") else 0),
        nose_length=nose_length,
        nose_half_width=n(19.0 if broad_nose else 16.5, 1.2, 14.0, 22.0),
        mouth_y=mouth_y,
        mouth_half_width=n(26.0 if male else 24.5, 1.5, 21.0, 30.0),
        upper_lip=n(7.5 if full_lips else (5.5 if male else 6.5), 0.8, 4.0, 10.0),
        lower_lip=n(10.0 if full_lips else (8.0 if male else 9.0), 0.9, 6.0, 13.0),
        cheek_fullness=n(1.0, 0.25, 0.5, 1.6),
        chin_height=n(7.0 if male else 5.5, 1.2, 3.0, 10.0),
        brow_ridge=n(5.0 if male else 3.0, 0.8, 1.5, 7.0),
        hairline=eye_y + n(66.0, 5.0, 55.0, 85.0) * length + (6.0 * (age > 50) if male else 0.0),
        skin=tuple(float(c) for c in skin),
        lips=tuple(float(c) for c in lips),
        hair=tuple(float(c) for c in hair),
        iris=tuple(float(c) for c in _IRIS[iris_name]),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
        beard=float(rng.uniform(0.15, 0.6)) if male and rng.random() < 0.6 else 0.0,
    )

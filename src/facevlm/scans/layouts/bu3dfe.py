"""BU-3DFE (Binghamton 2006): static scans, labels and demographics encoded in file names.

Layout ``<root>/F0001/F0001_AN01WH_F3D.wrl``; name grammar
``<SUBJ>_<EXP><II><RACE>_<KIND>.<ext>`` (see ``docs/your-data.md``). Everything the
index needs — subject, gender (subject prefix), expression, intensity, ethnicity — is in the name,
so discovery never opens a file. By default the cropped ``_F3D.wrl`` meshes are indexed (the ones
the literature uses); ``kind: RAW`` indexes the uncropped ``_RAW.wrl`` scans instead, which are
textured by the *same* ``_F3D.bmp`` atlas. The 83 ``_F3D.bnd`` landmarks index into the F3D mesh,
so RAW records carry no landmarks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from facevlm.scans.errors import ScanError
from facevlm.scans.labels import NEUTRAL
from facevlm.scans.layouts.base import (
    Candidate,
    Rejected,
    ScanRecord,
    TexturePolicy,
    gender_from_subject,
    list_dir,
    parse_options,
    require_dir,
    same_stem,
)

NAME = "bu3dfe"

#: Expression code → canonical name.
EXPRESSIONS: dict[str, str] = {
    "AN": "anger",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happiness",
    "NE": NEUTRAL,
    "SA": "sadness",
    "SU": "surprise",
}

#: Race code → ethnicity, worded as the dataset's documentation does.
ETHNICITIES: dict[str, str] = {
    "WH": "white",
    "BL": "black",
    "AE": "east asian",
    "AM": "middle-east asian",
    "IN": "indian",
    "LA": "hispanic/latino",
}

#: File kinds of the distribution (``F3D.wrl`` mesh, ``F3D.bmp`` atlas, ``F2D.bmp`` photo,
#: ``F3D.bnd`` landmarks, ``RAW.wrl`` uncropped scan, ``RAW.pse`` 8 points).
KINDS = ("F3D", "F2D", "RAW")

SUBJECT_RE = re.compile(r"^[FM][0-9]{4}$", re.IGNORECASE)
_NAME_RE = re.compile(
    r"^(?P<subject>[^_]+)_(?P<exp>[A-Za-z]{2})(?P<intensity>[0-9]{2})(?P<race>[A-Za-z]{2})"
    r"_(?P<kind>[A-Za-z0-9]+)\.(?P<ext>[A-Za-z0-9]+)$"
)


@dataclass(frozen=True)
class BU3DFEName:
    """The fields of a BU-3DFE file name."""

    subject: str
    expression: str
    intensity: int
    ethnicity: str
    kind: str
    ext: str

    @property
    def gender(self) -> str | None:
        return gender_from_subject(self.subject)


def parse_name(name: str) -> BU3DFEName:
    """Parse ``F0001_AN01WH_F3D.wrl``; raise :class:`ScanError` saying which part is wrong.

    >>> p = parse_name("F0001_AN01WH_F3D.wrl")
    >>> (p.subject, p.expression, p.intensity, p.ethnicity, p.kind, p.gender)
    ('F0001', 'anger', 1, 'white', 'F3D', 'female')
    """
    match = _NAME_RE.match(name)
    if match is None:
        raise ScanError(
            name,
            "name does not follow <SUBJ>_<EXP><II><RACE>_<KIND>.<ext> (e.g. F0001_AN01WH_F3D.wrl)",
        )
    subject = match["subject"].upper()
    if not SUBJECT_RE.match(subject):
        raise ScanError(name, f"subject {match['subject']!r} is not F/M followed by 4 digits")
    code = match["exp"].upper()
    if code not in EXPRESSIONS:
        raise ScanError(
            name, f"unknown expression code {code!r}; expected {', '.join(EXPRESSIONS)}"
        )
    intensity = int(match["intensity"])
    if code == "NE" and intensity != 0:
        raise ScanError(name, f"neutral must be NE00, got NE{match['intensity']}")
    if code != "NE" and not 1 <= intensity <= 4:
        raise ScanError(name, f"intensity {match['intensity']} out of range 01-04")
    race = match["race"].upper()
    if race not in ETHNICITIES:
        raise ScanError(name, f"unknown race code {race!r}; expected {', '.join(ETHNICITIES)}")
    kind = match["kind"].upper()
    if kind not in KINDS:
        raise ScanError(name, f"unknown file kind {match['kind']!r}; expected {', '.join(KINDS)}")
    return BU3DFEName(
        subject, EXPRESSIONS[code], intensity, ETHNICITIES[race], kind, match["ext"].lower()
    )


@dataclass(frozen=True)
class Options:
    """``kind``: which meshes to index (``F3D`` cropped, default; ``RAW`` uncropped).
    ``include_neutral``: index the ``NE00`` scans too (protocols drop them when needed)."""

    kind: Literal["F3D", "RAW"] = "F3D"
    include_neutral: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("F3D", "RAW"):
            raise ValueError(f"{NAME}: option kind must be 'F3D' or 'RAW', got {self.kind!r}")


class BU3DFELayout:
    """Discovers BU-3DFE scans: subject folders ``F0001..``/``M0001..`` directly under the root."""

    name = NAME
    texture_policy: ClassVar[TexturePolicy] = "layout"

    def discover(self, root: Path, options: Mapping[str, Any] | None = None) -> Iterator[Candidate]:
        opts = parse_options(Options, options, where=NAME)
        root = require_dir(root, NAME)
        subject_dirs, root_files = list_dir(root)
        for path in root_files:
            if path.suffix.lower() == ".wrl":
                yield Rejected(path, "scan outside a subject folder (expected <root>/<SUBJ>/...)")
        for folder in subject_dirs:
            if SUBJECT_RE.match(folder.name):  # viewer and other non-subject folders: skipped
                yield from self._subject(folder, opts)

    def _subject(self, folder: Path, opts: Options) -> Iterator[Candidate]:
        _, files = list_dir(folder)
        for path in files:
            if path.suffix.lower() != ".wrl":
                continue  # .bmp atlases and photos, .bnd landmarks, .pse points: companions
            try:
                parsed = parse_name(path.name)
            except ScanError as error:
                yield Rejected(path, error.reason)
                continue
            if parsed.kind != opts.kind:
                continue  # the other mesh kind (RAW when indexing F3D, and vice versa)
            if parsed.subject != folder.name.upper():
                yield Rejected(
                    path, f"file of subject {parsed.subject} inside folder {folder.name}"
                )
                continue
            if parsed.expression == NEUTRAL and not opts.include_neutral:
                continue
            prefix = path.name[: path.name.rindex("_")]  # F0001_AN01WH
            f3d = folder / f"{prefix}_F3D.wrl"
            texture = same_stem(f3d, (".bmp",)) or folder / f"{prefix}_F3D.bmp"
            landmarks = same_stem(f3d, (".bnd",)) if parsed.kind == "F3D" else None
            yield ScanRecord(
                dataset=NAME,
                subject=parsed.subject,
                gender=parsed.gender,
                ethnicity=parsed.ethnicity,
                expression=parsed.expression,
                label_set="basic",
                intensity=parsed.intensity,
                path=path,
                texture_path=texture,
                landmarks_path=landmarks,
                extra={"kind": parsed.kind},
            )

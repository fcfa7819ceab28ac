"""Bosphorus (Boğaziçi 2008): static ``.bnt`` range scans of emotions, action units, poses and
occlusions, all told apart by tokens in the file name.

Layout ``<root>/bs000/bs000_E_ANGER_0.{bnt,png,lm2,lm3}``. Names are parsed *generically* by
``_`` tokens — ``<subject>_<KIND>_<value...>_<sample>`` — rather than by a list of known names,
because the release has many pose/occlusion/AU variants and the grammar is what stays constant:

=========  ====================  =========================  ================
KIND       example               expression                 label_set
=========  ====================  =========================  ================
``N``      ``bs000_N_N_0``       ``neutral``                ``basic``
``E``      ``bs000_E_HAPPY_0``   canonical emotion          ``basic``
``LFAU``   ``bs000_LFAU_12_0``   ``AU12``                   ``au``
``UFAU``   ``bs000_UFAU_2_0``    ``AU2``                    ``au``
``CAU``    ``bs000_CAU_A22_0``   ``CAU_A22``                ``au``
``YR``     ``bs000_YR_R10_0``    ``None``                   ``pose``
``PR``     ``bs000_PR_SD_0``     ``None``                   ``pose``
``CR``     ``bs000_CR_RD_0``     ``None``                   ``pose``
``O``      ``bs000_O_GLASSES_0`` ``None``                   ``occlusion``
=========  ====================  =========================  ================

Option ``subset``: ``emotions`` (default — neutral plus the six emotions, what FER uses) or
``all``. Texture: ``<stem>.png``; landmarks: ``<stem>.lm3`` (3D, parsed by label because occluded
points are missing).
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
    list_dir,
    parse_options,
    require_dir,
    same_stem,
)

NAME = "bosphorus"

#: Emotion token → canonical name.
EMOTIONS: dict[str, str] = {
    "ANGER": "anger",
    "DISGUST": "disgust",
    "FEAR": "fear",
    "HAPPY": "happiness",
    "SADNESS": "sadness",
    "SURPRISE": "surprise",
}

#: Name token → (kind, label_set).
TOKEN_KINDS: dict[str, tuple[str, str]] = {
    "N": ("neutral", "basic"),
    "E": ("emotion", "basic"),
    "LFAU": ("lower_face_au", "au"),
    "UFAU": ("upper_face_au", "au"),
    "CAU": ("combined_au", "au"),
    "YR": ("yaw_rotation", "pose"),
    "PR": ("pitch_rotation", "pose"),
    "CR": ("cross_rotation", "pose"),
    "O": ("occlusion", "occlusion"),
}

SUBJECT_RE = re.compile(r"^bs[0-9]{3}$", re.IGNORECASE)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class BosphorusName:
    """The fields of a Bosphorus scan name (``bs000_E_ANGER_0``)."""

    subject: str
    token: str  # N, E, LFAU, UFAU, CAU, YR, PR, CR, O
    kind: str  # neutral, emotion, lower_face_au, ...
    value: str  # N, ANGER, 12, A22, R10, GLASSES ...
    sample: int
    expression: str | None
    label_set: str


def parse_name(stem: str) -> BosphorusName:
    """Parse a Bosphorus stem (no extension); raise :class:`ScanError` naming the bad token.

    >>> parse_name("bs012_E_HAPPY_0").expression
    'happiness'
    >>> parse_name("bs012_LFAU_12L_0").expression
    'AU12L'
    """
    tokens = stem.split("_")
    if len(tokens) < 4:
        raise ScanError(
            stem, "name has fewer than 4 '_' tokens (expected bsNNN_<KIND>_<VALUE>_<k>)"
        )
    subject, token, *values, sample = tokens
    if not SUBJECT_RE.match(subject):
        raise ScanError(stem, f"subject {subject!r} is not bs followed by 3 digits")
    if not sample.isdigit() or not sample.isascii():
        raise ScanError(stem, f"last token {sample!r} is not a sample number")
    if any(not _TOKEN_RE.match(v) for v in values):
        raise ScanError(stem, f"empty or non-alphanumeric token in {'_'.join(values)!r}")
    value = "_".join(values)
    key = token.upper()
    if key not in TOKEN_KINDS:
        raise ScanError(stem, f"unknown token {token!r}; expected one of {', '.join(TOKEN_KINDS)}")
    kind, label_set = TOKEN_KINDS[key]
    expression: str | None = None
    if key == "N":
        if value.upper() != "N":
            raise ScanError(stem, f"neutral scans are named _N_N_, got _N_{value}_")
        expression = NEUTRAL
    elif key == "E":
        if value.upper() not in EMOTIONS:
            raise ScanError(stem, f"unknown emotion {value!r}; expected {', '.join(EMOTIONS)}")
        expression = EMOTIONS[value.upper()]
    elif key in ("LFAU", "UFAU"):
        expression = f"AU{value.upper()}"
    elif key == "CAU":
        expression = f"CAU_{value.upper()}"
    return BosphorusName(
        subject.lower(), key, kind, value.upper(), int(sample), expression, label_set
    )


@dataclass(frozen=True)
class Options:
    """``subset``: ``emotions`` (neutral + six emotions, default) or ``all`` scans."""

    subset: Literal["emotions", "all"] = "emotions"

    def __post_init__(self) -> None:
        if self.subset not in ("emotions", "all"):
            raise ValueError(
                f"{NAME}: option subset must be 'emotions' or 'all', got {self.subset!r}"
            )


class BosphorusLayout:
    """Discovers Bosphorus ``.bnt`` scans in subject folders ``bs000..`` under the root."""

    name = NAME
    texture_policy: ClassVar[TexturePolicy] = "layout"

    def discover(self, root: Path, options: Mapping[str, Any] | None = None) -> Iterator[Candidate]:
        opts = parse_options(Options, options, where=NAME)
        root = require_dir(root, NAME)
        subject_dirs, root_files = list_dir(root)
        for path in root_files:
            if path.suffix.lower() == ".bnt":
                yield Rejected(path, "scan outside a subject folder (expected <root>/bsNNN/...)")
        for folder in subject_dirs:
            if not SUBJECT_RE.match(folder.name):
                continue
            for path in list_dir(folder)[1]:
                if path.suffix.lower() != ".bnt":
                    continue  # .png texture, .lm2/.lm3 landmarks
                try:
                    parsed = parse_name(path.stem)
                except ScanError as error:
                    yield Rejected(path, error.reason)
                    continue
                if parsed.subject != folder.name.lower():
                    yield Rejected(
                        path, f"file of subject {parsed.subject} inside folder {folder.name}"
                    )
                    continue
                if opts.subset == "emotions" and parsed.token not in ("N", "E"):
                    continue
                yield ScanRecord(
                    dataset=NAME,
                    subject=parsed.subject,
                    expression=parsed.expression,
                    label_set=parsed.label_set,
                    path=path,
                    texture_path=same_stem(path, (".png",)) or path.with_suffix(".png"),
                    landmarks_path=same_stem(path, (".lm3",)),
                    extra={
                        "token": parsed.token,
                        "kind": parsed.kind,
                        "value": parsed.value,
                        "sample": parsed.sample,
                    },
                )

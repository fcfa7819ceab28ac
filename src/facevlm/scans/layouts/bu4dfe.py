"""BU-4DFE (Binghamton 2008): 4D sequences, one VRML mesh and one JPEG texture per frame.

Layout ``<root>/<F001|M001>/<Angry|Disgust|Fear|Happy|Sad|Surprise>/<NNN>.wrl`` plus
``<NNN>.jpg``. The expression is the folder name, the gender the subject prefix; the sequence id
is ``<subject>/<Expression folder>``. Frames are numbered from ``000`` and must be ordered
numerically (``100.wrl`` after ``099.wrl``, whatever the padding). The distribution root also
holds ``BU_WrlViewer_V2/``, which is not a subject and is skipped with every other non-subject
folder.

Landmarks come in a separate release, ``BU4DFE_BND_V1.1/<subj>/<Expr>/<NNN>.bnd`` (one sequence
uses ``.landmark``); point option ``landmarks_root`` at it (absolute, or relative to the dataset
root). Landmark files are matched to frames by frame *number*, so a different zero padding in the
two releases does not matter.

The texture is the ``ImageTexture url`` inside the frame when present (``texture_policy = "mesh"``);
``<NNN>.jpg`` is the fallback recorded here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from facevlm.scans.errors import ScanError
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

NAME = "bu4dfe"

#: Expression folder (compared case-insensitively) → canonical name.
EXPRESSIONS: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
}

SUBJECT_RE = re.compile(r"^[FM][0-9]{3}$", re.IGNORECASE)
_FRAME_RE = re.compile(r"^([0-9]+)\.wrl$", re.IGNORECASE)
LANDMARK_SUFFIXES = (".bnd", ".landmark")


def parse_frame_name(name: str) -> int:
    """Frame number of ``NNN.wrl``; :class:`ScanError` for any other name.

    >>> parse_frame_name("007.wrl")
    7
    """
    match = _FRAME_RE.match(name)
    if match is None:
        raise ScanError(name, "frame name is not <digits>.wrl (e.g. 000.wrl)")
    return int(match.group(1))


def parse_expression_folder(name: str) -> str:
    """Canonical expression of a sequence folder (``Happy`` → ``happiness``)."""
    try:
        return EXPRESSIONS[name.lower()]
    except KeyError:
        raise ScanError(
            name,
            f"unknown expression folder {name!r}; "
            "expected Angry, Disgust, Fear, Happy, Sad, Surprise",
        ) from None


@dataclass(frozen=True)
class Options:
    """``landmarks_root``: the landmark release folder (``BU4DFE_BND_V1.1``), absolute or
    relative to the dataset root; ``None`` (default) indexes without landmarks."""

    landmarks_root: str | None = None


class BU4DFELayout:
    """Discovers BU-4DFE frames: one record per frame, ``sequence = <subject>/<Expression>``."""

    name = NAME
    texture_policy: ClassVar[TexturePolicy] = "mesh"

    def discover(self, root: Path, options: Mapping[str, Any] | None = None) -> Iterator[Candidate]:
        opts = parse_options(Options, options, where=NAME)
        root = require_dir(root, NAME)
        landmarks_root = None
        if opts.landmarks_root is not None:
            landmarks_root = require_dir(root / opts.landmarks_root, f"{NAME} landmarks_root")
        subject_dirs, root_files = list_dir(root)
        for path in root_files:
            if path.suffix.lower() == ".wrl":
                yield Rejected(path, "scan outside a subject/expression folder")
        for folder in subject_dirs:
            if not SUBJECT_RE.match(folder.name):
                continue  # BU_WrlViewer_V2/, the landmark release, documentation ...
            sequence_dirs, loose = list_dir(folder)
            for path in loose:
                if path.suffix.lower() == ".wrl":
                    yield Rejected(
                        path, "frame directly in the subject folder, not in an expression folder"
                    )
            for seq_dir in sequence_dirs:
                yield from self._sequence(folder.name.upper(), seq_dir, landmarks_root)

    def _sequence(
        self, subject: str, seq_dir: Path, landmarks_root: Path | None
    ) -> Iterator[Candidate]:
        _, files = list_dir(seq_dir)
        meshes = [p for p in files if p.suffix.lower() == ".wrl"]
        try:
            expression = parse_expression_folder(seq_dir.name)
        except ScanError as error:
            for path in meshes:
                yield Rejected(path, error.reason)
            return
        frames: list[tuple[int, Path]] = []
        for path in meshes:
            try:
                frames.append((parse_frame_name(path.name), path))
            except ScanError as error:
                yield Rejected(path, error.reason)
        frames.sort()
        landmarks = _landmark_files(landmarks_root, subject, seq_dir.name)
        sequence = f"{subject}/{seq_dir.name}"
        for number, path in frames:
            yield ScanRecord(
                dataset=NAME,
                subject=subject,
                gender=gender_from_subject(subject),
                expression=expression,
                label_set="basic",
                sequence=sequence,
                frame=number,
                n_frames=len(frames),
                path=path,
                texture_path=same_stem(path, (".jpg", ".jpeg")) or path.with_suffix(".jpg"),
                landmarks_path=landmarks.get(number),
            )


def _landmark_files(
    landmarks_root: Path | None, subject: str, expression_dir: str
) -> dict[int, Path]:
    """Frame number → landmark file of one sequence in the landmark release (may be empty)."""
    if landmarks_root is None:
        return {}
    folder = _child_ci(landmarks_root, subject)
    folder = _child_ci(folder, expression_dir) if folder is not None else None
    if folder is None:
        return {}
    found: dict[int, Path] = {}
    for path in list_dir(folder)[1]:
        if path.suffix.lower() in LANDMARK_SUFFIXES and re.fullmatch(r"[0-9]+", path.stem):
            found.setdefault(int(path.stem), path)
    return found


def _child_ci(folder: Path, name: str) -> Path | None:
    """Sub-folder ``name`` of ``folder``, matching letter case loosely (``F001`` / ``f001``)."""
    exact = folder / name
    if exact.is_dir():
        return exact
    for sub in list_dir(folder)[0]:
        if sub.name.lower() == name.lower():
            return sub
    return None

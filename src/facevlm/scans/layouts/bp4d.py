"""BP4D-Spontaneous (Binghamton/Pittsburgh 2014): spontaneous 4D sequences, one OBJ per frame,
labelled by the elicitation task and by per-frame FACS action-unit occurrence.

Layout ``<root>/Sequences(2D+3D)/<F001>/<T1>/<frame>.obj`` with a same-numbered ``.jpg``
texture; frame names are zero-padded to 4 digits for some subjects and 3 for others, so frames
(and their textures) are matched by *number*, never by string. If ``Sequences(2D+3D)`` is absent
the root itself is taken as the sequences folder.

Each task elicits one emotion (``TASK_EMOTIONS``); papers on the six basic emotions keep
T1 T2 T3 T5 T7 T8, which is the default ``tasks: basic`` (``all``, or an explicit list such as
``[T1, T8]``, are the alternatives). T4 (embarrassment) and T6 (pain) get ``label_set = "task"``.

AU occurrence labels ``AUCoding/AU_OCC/<F001>_<T1>.csv`` (header row; column 0 the frame
number; the other columns one AU each, 0/1, with 9 meaning *not coded*) are joined to the frames
by frame number into ``extra["au_occurrence"]`` (``{"AU1": 0, "AU2": None, ...}``, ``None`` for
9); frames outside the coded range get ``None``. An unreadable CSV is reported (stage
``labels``) and its frames are indexed without AU labels.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from facevlm.scans.errors import ScanError
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.scans.layouts.base import (
    Candidate,
    Rejected,
    ScanRecord,
    TexturePolicy,
    gender_from_subject,
    list_dir,
    parse_options,
    require_dir,
)

NAME = "bp4d"

#: Elicitation task → emotion (canonical name where it is one of the six).
TASK_EMOTIONS: dict[str, str] = {
    "T1": "happiness",
    "T2": "sadness",
    "T3": "surprise",
    "T4": "embarrassment",
    "T5": "fear",
    "T6": "pain",
    "T7": "anger",
    "T8": "disgust",
}

#: The tasks whose emotion is one of the six basic ones (T1 T2 T3 T5 T7 T8).
BASIC_TASKS: tuple[str, ...] = tuple(t for t, e in TASK_EMOTIONS.items() if e in BASIC_EMOTIONS)

SUBJECT_RE = re.compile(r"^[FM][0-9]{3}$", re.IGNORECASE)
TASK_RE = re.compile(r"^T[0-9]+$", re.IGNORECASE)
_FRAME_RE = re.compile(r"^([0-9]+)$")
NOT_CODED = 9


def parse_frame_stem(stem: str) -> int:
    """Frame number of a BP4D frame stem, 3- or 4-digit (``0123`` and ``123`` are both 123)."""
    match = _FRAME_RE.match(stem)
    if match is None:
        raise ScanError(stem, "frame name is not a zero-padded number (e.g. 0123.obj)")
    return int(match.group(1))


def parse_task(name: str) -> str:
    """``t1`` / ``T1`` → ``T1``; unknown tasks raise :class:`ScanError`."""
    task = name.upper()
    if task not in TASK_EMOTIONS:
        raise ScanError(name, f"unknown task folder {name!r}; expected T1..T8")
    return task


def read_au_occurrence(path: Path) -> dict[int, dict[str, int | None]]:
    """Frame number → ``{"AU<n>": 0 | 1 | None}`` from one ``AU_OCC`` CSV (9 → ``None``).

    The header names the AU of each column (``1``, ``AU1`` or ``1.0``); a header cell that is
    not a number falls back to the column position, which is the documented convention.

    Raises:
        ScanError: empty file, a non-numeric frame, a value other than 0/1/9, a short row.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ScanError(path, f"cannot read AU occurrence CSV: {error}") from None
    if len(rows) < 2:
        raise ScanError(path, "AU occurrence CSV has no data rows")
    header = rows[0]
    names = [f"AU{_au_number(cell, i)}" for i, cell in enumerate(header) if i > 0]
    table: dict[int, dict[str, int | None]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ScanError(path, f"line {line}: {len(row)} columns, header has {len(header)}")
        try:
            number = int(float(row[0]))
            values = [int(float(cell)) if cell.strip() else NOT_CODED for cell in row[1:]]
        except ValueError:
            raise ScanError(path, f"line {line}: non-numeric cell in {row[:4]}...") from None
        bad = sorted({v for v in values if v not in (0, 1, NOT_CODED)})
        if bad:
            raise ScanError(path, f"line {line}: AU values {bad} are not 0, 1 or 9")
        table[number] = {
            n: (None if v == NOT_CODED else v) for n, v in zip(names, values, strict=True)
        }
    return table


def _au_number(cell: str, position: int) -> int:
    text = cell.strip().upper().removeprefix("AU")
    try:
        return int(float(text))
    except ValueError:
        return position


@dataclass(frozen=True)
class Options:
    """``tasks``: ``basic`` (T1 T2 T3 T5 T7 T8, default), ``all``, or a list of task ids.
    ``sequences_dir`` / ``au_dir``: folders relative to the root (the release's names)."""

    tasks: str | Sequence[str] = "basic"
    sequences_dir: str = "Sequences(2D+3D)"
    au_dir: str = "AUCoding/AU_OCC"

    def task_set(self) -> frozenset[str]:
        if self.tasks == "basic":
            return frozenset(BASIC_TASKS)
        if self.tasks == "all":
            return frozenset(TASK_EMOTIONS)
        if isinstance(self.tasks, str):
            raise ValueError(
                f"{NAME}: option tasks must be 'basic', 'all' or a list, got {self.tasks!r}"
            )
        try:
            return frozenset(parse_task(t) for t in self.tasks)
        except ScanError as error:
            raise ValueError(f"{NAME}: option tasks: {error.reason}") from None


class BP4DLayout:
    """Discovers BP4D frames: one record per frame, ``sequence = <subject>/<task>``."""

    name = NAME
    texture_policy: ClassVar[TexturePolicy] = "layout"

    def discover(self, root: Path, options: Mapping[str, Any] | None = None) -> Iterator[Candidate]:
        opts = parse_options(Options, options, where=NAME)
        tasks = opts.task_set()
        root = require_dir(root, NAME)
        sequences = root / opts.sequences_dir
        if not sequences.is_dir():
            sequences = root
        au_dir = root / opts.au_dir
        for folder in list_dir(sequences)[0]:
            if not SUBJECT_RE.match(folder.name):
                continue  # AUCoding/, 2D-only folders, documentation ...
            subject = folder.name.upper()
            for task_dir in list_dir(folder)[0]:
                if not TASK_RE.match(task_dir.name):
                    continue
                yield from self._sequence(subject, task_dir, tasks, au_dir)

    def _sequence(
        self, subject: str, task_dir: Path, tasks: frozenset[str], au_dir: Path
    ) -> Iterator[Candidate]:
        files = list_dir(task_dir)[1]
        meshes = [p for p in files if p.suffix.lower() == ".obj"]
        try:
            task = parse_task(task_dir.name)
        except ScanError as error:
            for path in meshes:
                yield Rejected(path, error.reason)
            return
        if task not in tasks:
            return
        frames: dict[int, Path] = {}
        for path in meshes:
            try:
                number = parse_frame_stem(path.stem)
            except ScanError as error:
                yield Rejected(path, error.reason)
                continue
            if number in frames:
                yield Rejected(path, f"duplicate frame {number} (also {frames[number].name})")
                continue
            frames[number] = path
        textures = {
            int(p.stem): p
            for p in files
            if p.suffix.lower() in (".jpg", ".jpeg") and p.stem.isascii() and p.stem.isdigit()
        }
        aus: dict[int, dict[str, int | None]] = {}
        au_file = au_dir / f"{subject}_{task}.csv"
        if au_file.is_file():
            try:
                aus = read_au_occurrence(au_file)
            except ScanError as error:
                yield Rejected(au_file, error.reason, stage="labels")
        emotion = TASK_EMOTIONS[task]
        for number in sorted(frames):
            path = frames[number]
            yield ScanRecord(
                dataset=NAME,
                subject=subject,
                gender=gender_from_subject(subject),
                expression=emotion,
                label_set="basic" if emotion in BASIC_EMOTIONS else "task",
                sequence=f"{subject}/{task}",
                frame=number,
                n_frames=len(frames),
                path=path,
                texture_path=textures.get(number, path.with_suffix(".jpg")),
                extra={"task": task, "au_occurrence": aus.get(number)},
            )

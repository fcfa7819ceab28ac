"""4DME (Oulu 2022): 4D micro-expression clips labelled by a spreadsheet.

The labels are the release spreadsheet ``4DME_Labelling_Micro_release v1.xlsx`` (or, failing
that, the only ``*.xlsx`` in the root; option ``labels`` names another): one row per clip with
``sub_ID``, ``fold_name``, ``Onset``, ``Apex``, ``Offset``, ``AUs`` (``AU4+AU7(k)``), per-AU
columns and the indicator columns ``Positive``, ``Negative``, ``Surprise``, ``Repression``,
``Others`` (a clip may set several).

The 4D mesh layout is not publicly documented, so it is discovered at run time: a clip is the
folder ``<root>/<sub_ID>/<fold_name>/`` and its frames are the OBJ (or else WRL) files anywhere
below it, numbered by the trailing digits of their names. Ids are matched with letter case and
zero padding ignored (``S01`` = ``s1``), nothing looser. Every spreadsheet row without a clip
folder, and every clip folder (inside a labelled subject's folder) without a row, is reported in
the quarantine (stage ``labels``): such mismatches usually mean a renamed folder, and dropping
them silently would shrink the dataset unnoticed.

Expression: the clip's indicator class (canonical lower-case name); when several indicators are
set, the first in :data:`~facevlm.scans.labels.MICRO_EXPRESSION_CLASSES` order, all of them in
``extra["classes"]``; ``None`` when none is set. Onset, apex and offset are kept in ``extra``
exactly as the spreadsheet gives them, for frame sampling, which treats them as frame *numbers*
(the trailing digits of the frame files); ``extra["phases_match_frames"]`` says whether all of
them are numbers of the clip's frames — if the real release numbers its files differently
(1-based, or by video frame), this flag and a warning show it at ingest, not at render time.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd

from facevlm.scans.errors import ScanError
from facevlm.scans.labels import MICRO_EXPRESSION_CLASSES
from facevlm.scans.layouts.base import (
    Candidate,
    Rejected,
    ScanRecord,
    TexturePolicy,
    frame_number,
    list_dir,
    parse_options,
    require_dir,
    same_stem,
    walk_files,
)

log = logging.getLogger(__name__)

NAME = "4dme"
RELEASE_SPREADSHEET = "4DME_Labelling_Micro_release v1.xlsx"
REQUIRED_COLUMNS = ("sub_ID", "fold_name", "Onset", "Apex", "Offset", "AUs")
INDICATOR_COLUMNS = tuple(c.capitalize() for c in MICRO_EXPRESSION_CLASSES)
_AU_COLUMN_RE = re.compile(r"^AU\s*([0-9]+)$", re.IGNORECASE)
_BLANK = {"", "/", "-", "nan", "none", "n/a", "na"}
_TRUE = {"1", "x", "yes", "y", "true"}


@dataclass(frozen=True)
class ClipLabel:
    """One spreadsheet row: a labelled clip."""

    row: int  # spreadsheet row number (header is row 1)
    subject: str
    clip: str
    onset: int | None
    apex: int | None
    offset: int | None
    aus: str
    au_columns: dict[str, float | None]
    classes: tuple[str, ...]

    @property
    def expression(self) -> str | None:
        return self.classes[0] if self.classes else None


def id_key(text: str) -> str:
    """Matching key of a subject or clip id: lower case, numbers without zero padding.

    >>> id_key("S01_0102") == id_key("s1_102")
    True
    """
    return re.sub(r"[0-9]+", lambda m: str(int(m.group())), str(text).strip().casefold())


def read_labels(path: Path) -> tuple[list[ClipLabel], list[Rejected]]:
    """Read the labelling spreadsheet: the usable rows, and the rows that are not usable.

    Raises:
        ScanError: the file is not a readable spreadsheet or lacks a required column — without
            labels no clip can be indexed, so this stops discovery instead of quarantining.
    """
    try:
        sheet = pd.read_excel(path, dtype=object)
    except Exception as error:  # openpyxl raises many types for a broken workbook
        raise ScanError(path, f"cannot read labelling spreadsheet: {error}") from None
    columns = {_norm(c): c for c in sheet.columns}
    wanted = REQUIRED_COLUMNS + INDICATOR_COLUMNS
    missing = [c for c in wanted if _norm(c) not in columns]
    if missing:
        raise ScanError(path, f"labelling spreadsheet lacks column(s) {', '.join(missing)}")
    col = {c: columns[_norm(c)] for c in wanted}
    au_cols = {
        f"AU{int(m.group(1))}": c
        for c in sheet.columns
        if (m := _AU_COLUMN_RE.match(str(c).strip()))
    }
    labels: list[ClipLabel] = []
    rejected: list[Rejected] = []
    for i, row in enumerate(sheet.itertuples(index=False), start=2):
        values = dict(zip(sheet.columns, row, strict=True))
        where = f"{path.name} row {i}"
        subject, clip = _text(values[col["sub_ID"]]), _text(values[col["fold_name"]])
        if not subject or not clip:
            if any(_text(v) for v in values.values()):
                rejected.append(Rejected(path, f"{where}: empty sub_ID or fold_name", "labels"))
            continue
        try:
            onset, apex, offset = (
                _frame(values[col[c]], c, where) for c in ("Onset", "Apex", "Offset")
            )
        except ScanError as error:
            rejected.append(Rejected(path, error.reason, "labels"))
            continue
        classes = tuple(
            cls
            for cls, name in zip(MICRO_EXPRESSION_CLASSES, INDICATOR_COLUMNS, strict=True)
            if _truthy(values[col[name]])
        )
        labels.append(
            ClipLabel(
                row=i,
                subject=subject,
                clip=clip,
                onset=onset,
                apex=apex,
                offset=offset,
                aus=_text(values[col["AUs"]]),
                au_columns={au: _number(values[c]) for au, c in au_cols.items()},
                classes=classes,
            )
        )
    return labels, rejected


def _norm(name: object) -> str:
    return re.sub(r"[\s_]+", "", str(name)).lower()


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: object) -> float | None:
    text = _text(value)
    if text.lower() in _BLANK:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _frame(value: object, column: str, where: str) -> int | None:
    text = _text(value)
    if text.lower() in _BLANK:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ScanError(where, f"{where}: {column} {text!r} is not a frame number") from None
    if not number.is_integer() or number < 0:
        raise ScanError(where, f"{where}: {column} {text!r} is not a frame number")
    return int(number)


def _truthy(value: object) -> bool:
    text = _text(value).lower()
    if text in _TRUE:
        return True
    try:
        return float(text) > 0
    except ValueError:
        return False


def parse_aus(text: str) -> list[str]:
    """``"AU4+AU7(k)"`` → ``["AU4", "AU7"]`` (intensity/side letters dropped, order kept).

    >>> parse_aus("AU4+AU7(k) + L12")
    ['AU4', 'AU7', 'AU12']
    """
    return [
        f"AU{int(n)}" for n in re.findall(r"(?:AU|[LRB])?\s*([0-9]+)", text, flags=re.IGNORECASE)
    ]


@dataclass(frozen=True)
class Options:
    """``labels``: spreadsheet path (absolute or relative to the root); default the release
    name, else the only ``*.xlsx`` in the root. ``frame_format``: ``auto`` (OBJ when a clip has
    any, else WRL), ``obj`` or ``wrl``."""

    labels: str | None = None
    frame_format: Literal["auto", "obj", "wrl"] = "auto"

    def __post_init__(self) -> None:
        if self.frame_format not in ("auto", "obj", "wrl"):
            raise ValueError(f"{NAME}: option frame_format must be auto, obj or wrl")


def find_spreadsheet(root: Path, labels: str | None) -> Path:
    """The labelling spreadsheet: ``labels`` if given, else the release name, else the one xlsx."""
    if labels is not None:
        path = root / labels
        if not path.is_file():
            raise FileNotFoundError(f"{NAME}: labelling spreadsheet {path} not found")
        return path
    if (root / RELEASE_SPREADSHEET).is_file():
        return root / RELEASE_SPREADSHEET
    found = [
        p for p in list_dir(root)[1] if p.suffix.lower() == ".xlsx" and not p.name.startswith("~$")
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"{NAME}: no labelling spreadsheet (*.xlsx) in {root}")
    raise ValueError(
        f"{NAME}: several spreadsheets in {root} ({', '.join(p.name for p in found)}); "
        "choose one with option 'labels'"
    )


class FourDMELayout:
    """Discovers 4DME clips from the labelling spreadsheet and the ``<subject>/<clip>/`` folders."""

    name = NAME
    texture_policy: ClassVar[TexturePolicy] = "mesh"

    def discover(self, root: Path, options: Mapping[str, Any] | None = None) -> Iterator[Candidate]:
        opts = parse_options(Options, options, where=NAME)
        root = require_dir(root, NAME)
        sheet = find_spreadsheet(root, opts.labels)
        labels, rejected = read_labels(sheet)
        yield from rejected

        subject_dirs = {id_key(d.name): d for d in list_dir(root)[0]}
        by_clip: dict[tuple[str, str], ClipLabel] = {}
        for label in labels:
            key = (id_key(label.subject), id_key(label.clip))
            if key in by_clip:
                yield Rejected(
                    sheet,
                    f"{sheet.name} row {label.row}: duplicate of row {by_clip[key].row} "
                    f"({label.subject}/{label.clip})",
                    "labels",
                )
                continue
            by_clip[key] = label

        clip_dirs: dict[tuple[str, str], Path] = {}
        labelled_subjects = {s for s, _ in by_clip}
        for subject_key, folder in subject_dirs.items():
            if subject_key not in labelled_subjects:
                continue  # not a subject of the spreadsheet: 2D modalities, docs ...
            for clip_dir in list_dir(folder)[0]:
                key = (subject_key, id_key(clip_dir.name))
                if key not in by_clip:
                    yield Rejected(clip_dir, f"clip folder has no row in {sheet.name}", "labels")
                else:
                    clip_dirs[key] = clip_dir

        for key, label in by_clip.items():
            clip_dir = clip_dirs.get(key)
            if clip_dir is None:
                expected = subject_dirs.get(key[0], root / label.subject) / label.clip
                yield Rejected(
                    expected,
                    f"labelled in {sheet.name} row {label.row} but no clip folder",
                    "labels",
                )
                continue
            yield from self._clip(label, clip_dir, opts)

    def _clip(self, label: ClipLabel, clip_dir: Path, opts: Options) -> Iterator[Candidate]:
        files = list(walk_files(clip_dir))
        fmt = opts.frame_format
        if fmt == "auto":
            fmt = "obj" if any(p.suffix.lower() == ".obj" for p in files) else "wrl"
        meshes = [p for p in files if p.suffix.lower() == f".{fmt}"]
        if not meshes:
            yield Rejected(clip_dir, f"clip folder has no {fmt.upper()} frames")
            return
        frames: dict[int, Path] = {}
        for path in meshes:
            try:
                number = frame_number(path)
            except ScanError as error:
                yield Rejected(path, error.reason)
                continue
            if number in frames:
                yield Rejected(path, f"duplicate frame {number} (also {frames[number].name})")
                continue
            frames[number] = path
        sequence = f"{label.subject}/{label.clip}"
        phases = [p for p in (label.onset, label.apex, label.offset) if p is not None]
        matched = all(p in frames for p in phases)
        if not matched:
            log.warning(
                "%s: labelled onset/apex/offset %s are not all among its frame numbers %s",
                sequence, phases, sorted(frames),
            )  # fmt: skip
        extra = {
            "phases_match_frames": matched,
            "onset": label.onset,
            "apex": label.apex,
            "offset": label.offset,
            "aus": label.aus,
            "au_list": parse_aus(label.aus),
            "au_columns": label.au_columns,
            "classes": list(label.classes),
        }
        for number in sorted(frames):
            path = frames[number]
            yield ScanRecord(
                dataset=NAME,
                subject=label.subject,
                expression=label.expression,
                label_set="micro",
                sequence=sequence,
                frame=number,
                n_frames=len(frames),
                path=path,
                texture_path=same_stem(path, (".jpg", ".png", ".bmp")),
                extra=dict(extra),
            )

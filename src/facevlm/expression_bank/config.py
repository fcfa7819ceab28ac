"""``params:expression_bank`` as typed settings: the photo sets, the FACS tables, how to read them.

A photo set or table is named by its key, which becomes the bank rows' ``source``; a photo set
whose ``root`` and ``labels_file`` are both unset, or a table whose ``path`` is, is switched off,
so that the parameters can hold a set's settings ready for a user to point at their copy
(``--params expression_bank.photo_sets.fer2013.root=/data/fer2013/train``). Unknown keys are
refused (:func:`facevlm.config.from_dict`): a misspelt ``subject_patern`` would otherwise give
every photo a subject of its own without a word.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from facevlm.config import from_dict
from facevlm.expression_bank.emotions import BANK_EMOTIONS

#: A FACS table path with this prefix names a table shipped in this package's ``data/``.
PACKAGED = "package:"


@dataclass(frozen=True)
class PhotoSet:
    """A folder of labelled face photos.

    Attributes:
        root: the folder. Without ``labels_file``, one sub-folder per emotion (nested folders
            below it are read too); with it, the folder the file's paths are relative to
            (default: the labels file's own folder).
        labels_file: a CSV with columns ``file``, ``emotion`` and optionally ``subject``.
        subject_pattern: a regular expression on the file name whose first group (or whole
            match) is the subject, where the labels file gives none (CK+: ``^(S\\d+)_``).
            Without either, each photo is a subject of its own.
        labels: this set's own labels -> emotion (RAF-DB's ``"1": surprise``), read before the
            common spellings (``happy``, ``angry`` ...), which need no entry.
    """

    root: str | None = None
    labels_file: str | None = None
    subject_pattern: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.root is not None or self.labels_file is not None

    def folder(self) -> Path:
        """The folder the photos' paths are relative to."""
        if self.root is not None:
            return Path(self.root).expanduser()
        return Path(str(self.labels_file)).expanduser().parent

    def labels_path(self) -> Path | None:
        if self.labels_file is None:
            return None
        path = Path(self.labels_file).expanduser()
        return path if path.is_absolute() or self.root is None else self.folder() / path


@dataclass(frozen=True)
class FacsTable:
    """A table of FACS-coded expressions: columns ``subject``, ``emotion`` and either
    ``action_units`` (FACS notation: ``1+2+5B+L12C+25``) or one 0/1 column per unit (``AU12``
    or ``12``); optionally ``item`` or ``sequence``, the expression's id.

    Attributes:
        path: a CSV file, or ``package:<name>`` for a table shipped in the package; None
            switches the table off (for a bank of your photos alone:
            ``--params expression_bank.facs_tables.ckplus_netfacs.path=null``).
        labels: this table's own labels -> emotion, as for a photo set.
    """

    path: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def file(self) -> Path:
        if self.path is None:
            raise ValueError("a FACS table switched off (path: null) has no file")
        if self.path.startswith(PACKAGED):
            name = self.path.removeprefix(PACKAGED)
            return Path(str(resources.files("facevlm.expression_bank").joinpath("data", name)))
        return Path(self.path).expanduser()


@dataclass(frozen=True)
class ExpressionBankConfig:
    """What the bank reads and how.

    Attributes:
        photo_sets: name -> :class:`PhotoSet`.
        facs_tables: name -> :class:`FacsTable`.
        emotions: the emotions kept; an input labelled otherwise is reported.
        seed: seed of the intensities drawn for coded units that carry none.
        intensity_range: the range those intensities are drawn from (FACS C to E, 0.6-1.0, by
            default: CK+'s codes are of the expression's peak).
        min_detection_confidence: the Face Landmarker's face-detection threshold.
        fail_fast: stop at the first photo or row that cannot be read, instead of reporting it
            and going on.
    """

    photo_sets: dict[str, PhotoSet] = field(default_factory=dict)
    facs_tables: dict[str, FacsTable] = field(default_factory=dict)
    emotions: tuple[str, ...] = BANK_EMOTIONS
    seed: int = 0
    intensity_range: tuple[float, float] = (0.6, 1.0)
    min_detection_confidence: float = 0.5
    fail_fast: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> ExpressionBankConfig:
        values = dict(params or {})
        photo_sets = {
            str(name): from_dict(PhotoSet, _string_labels(entry), f"photo_sets.{name}")
            for name, entry in (values.pop("photo_sets", None) or {}).items()
        }
        tables = {
            str(name): from_dict(FacsTable, _string_labels(entry), f"facs_tables.{name}")
            for name, entry in (values.pop("facs_tables", None) or {}).items()
        }
        config = from_dict(cls, values, "expression_bank")
        intensity_range = tuple(float(v) for v in config.intensity_range)
        if len(intensity_range) != 2:
            raise ValueError(f"expression_bank.intensity_range: two numbers, got {intensity_range}")
        return cls(
            photo_sets=photo_sets,
            facs_tables=tables,
            emotions=tuple(str(e) for e in config.emotions),
            seed=int(config.seed),
            intensity_range=intensity_range,
            min_detection_confidence=float(config.min_detection_confidence),
            fail_fast=bool(config.fail_fast),
        )


def _string_labels(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    """An entry with its ``labels`` keyed by text: YAML reads RAF-DB's ``1: surprise`` as the
    number 1, and a folder or a CSV cell is named ``"1"``."""
    entry = dict(entry or {})
    if entry.get("labels"):
        entry["labels"] = {str(k): str(v) for k, v in entry["labels"].items()}
    return entry

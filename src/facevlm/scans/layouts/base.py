"""What every dataset layout shares: the scan record, the discovery contract and the registry.

Why a layout step apart from the readers: the five benchmarks store the *same* kind of data in
five different folder trees with five name grammars, and the labels live in those names (BU-3DFE
``F0001_AN01WH_F3D.wrl``), in folder names (BU-4DFE ``F001/Happy/000.wrl``), in spreadsheets
(4DME) or in side CSV files (BP4D). A layout turns a folder into a stream of :class:`ScanRecord`
*candidates* — path plus parsed metadata, without opening a mesh — so that discovery is cheap,
testable on empty files, and kept apart from the expensive validation done by
:mod:`facevlm.scans.layouts.scan_index`.

Discovery never raises for a bad file: a file that *looks like* a scan but breaks the dataset's
name grammar is yielded as a :class:`Rejected` (it goes to the quarantine report with its
reason). Files that are not scans at all — ``.DS_Store``, ``Thumbs.db``, ``._*`` AppleDouble
twins, thumbnails, viewer folders such as ``BU_WrlViewer_V2/``, folders that are not subjects —
are skipped by discovery, because reporting them would bury the real problems; entries that do
look like scans yet are not yielded are listed afterwards as ``skipped`` by
:mod:`facevlm.scans.layouts.accounting`, so nothing named like a scan vanishes.

Special entries are handed to the layouts as files (:func:`list_dir`): a FIFO, socket, device,
dangling symlink, or a *folder* named like a scan (``F0003_SA02AE_F3D.wrl/``). The layout parses
the name as usual, and reading the record refuses it with the reason (never blocking on a FIFO).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from facevlm.scans.errors import ScanError
from facevlm.scans.formats.dispatch import READERS

#: How a layout's ``texture_path`` relates to the texture named inside the mesh file.
#: ``"layout"``: the dataset convention wins (BU-3DFE ``_RAW.wrl`` must use the ``_F3D.bmp``
#: atlas whatever its own file says); ``"mesh"``: the file's own reference wins and the layout's
#: path is the fallback (BU-4DFE: ``ImageTexture url`` when present, else ``<NNN>.jpg``).
TexturePolicy = Literal["layout", "mesh"]


@dataclass(frozen=True, kw_only=True)
class ScanRecord:
    """One scan (a static scan, or one frame of a 4D sequence): one row of the scan index.

    Attributes:
        dataset: layout name (``bu3dfe``, ``bu4dfe``, ``bosphorus``, ``bp4d``, ``4dme``), or
            ``synthetic-<layout>`` for the synthetic set.
        subject: subject id as the dataset spells it (``F0001``, ``F001``, ``bs000``).
        gender: ``"female"`` / ``"male"`` where the dataset encodes it, else ``None``.
        age: age in years where known, else ``None``.
        ethnicity: ethnicity name (BU-3DFE race code mapped to words), else ``None``.
        expression: canonical name (:data:`facevlm.scans.labels.BASIC_EMOTIONS`, ``neutral``,
            :data:`~facevlm.scans.labels.MICRO_EXPRESSION_CLASSES`) or another label the dataset
            uses (``AU12``, ``pain``), or ``None`` when the scan carries no expression label
            (Bosphorus head rotations and occlusions).
        label_set: which vocabulary ``expression`` belongs to: ``basic`` (six emotions and
            neutral), ``micro`` (4DME classes), ``au`` (action-unit scans), ``task`` (BP4D tasks
            outside the six emotions), ``pose``, ``occlusion``.
        intensity: BU-3DFE intensity 1–4 (0 for neutral), else ``None``.
        sequence: id of the 4D sequence the frame belongs to (``F001/Happy``), ``None`` if static.
        frame: frame number parsed from the file name, ``None`` if static.
        n_frames: number of frames of the sequence, ``None`` if static.
        path: the mesh file.
        texture_path: the texture image the dataset convention assigns to this mesh (may not
            exist: the index checks), or ``None``.
        landmarks_path: landmark file when one exists, else ``None``.
        extra: dataset-specific details (Bosphorus token kind, BP4D task and AU occurrence,
            4DME onset/apex/offset/AUs/indicator classes).
    """

    dataset: str
    subject: str
    gender: str | None = None
    age: int | None = None
    ethnicity: str | None = None
    expression: str | None = None
    label_set: str = "basic"
    intensity: int | None = None
    sequence: str | None = None
    frame: int | None = None
    n_frames: int | None = None
    path: Path
    texture_path: Path | None = None
    landmarks_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    """A file (or a label row) that discovery could not turn into a record, with the reason.

    ``stage`` says where it failed: ``discover`` (name grammar, misplaced file), ``labels``
    (label file unreadable, label row without a scan folder, folder without a label row).
    ``dataset`` is filled in by layouts that delegate (synthetic); ``None`` means the layout's own.
    """

    path: Path
    reason: str
    stage: str = "discover"
    dataset: str | None = None


#: What :meth:`Layout.discover` yields.
Candidate = ScanRecord | Rejected


@runtime_checkable
class Layout(Protocol):
    """A dataset's folder layout: finds its scans and reads their metadata from names.

    ``discover`` walks ``root`` and yields one :class:`ScanRecord` per scan (or frame) and one
    :class:`Rejected` per scan-like file it cannot parse; it must not open meshes. ``options``
    are the layout's own settings (see each module's ``Options`` dataclass); unknown keys are an
    error, so that a typo in ``parameters.yml`` does not silently change what gets indexed.
    """

    name: str
    texture_policy: ClassVar[TexturePolicy]

    def discover(
        self, root: Path, options: Mapping[str, Any] | None = None
    ) -> Iterator[Candidate]: ...


# ---------------------------------------------------------------------------------- options
_O = TypeVar("_O")


def parse_options(cls: type[_O], options: Mapping[str, Any] | None, *, where: str) -> _O:
    """Build the options dataclass ``cls`` from a params mapping, rejecting unknown keys.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class O:
    ...     kind: str = "F3D"
    >>> parse_options(O, {"kind": "RAW"}, where="bu3dfe")
    O(kind='RAW')
    """
    options = dict(options or {})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return cls(**options)


#: Extensions of the mesh files the readers support (:mod:`facevlm.scans.formats.dispatch`).
MESH_SUFFIXES = frozenset(READERS)


# ---------------------------------------------------------------------------------- strays
#: Names of files and folders that operating systems and viewers drop into data folders.
STRAY_NAMES = frozenset(
    {"thumbs.db", "desktop.ini", "__macosx", "@eadir", ".ds_store", "icon\r", "thumbnails"}
)


def is_stray(name: str) -> bool:
    """True for OS/viewer litter that is never a scan: hidden files, AppleDouble, thumbnails.

    >>> names = [".DS_Store", "._F0001.wrl", "Thumbs.db", "F0001_x_thumb.jpg", "000.wrl"]
    >>> [is_stray(n) for n in names]
    [True, True, True, True, False]
    """
    lower = name.lower()
    if lower.startswith(".") or lower in STRAY_NAMES:
        return True
    stem = lower.rsplit(".", 1)[0]
    return stem.endswith(("_thumb", "-thumb", "_thumbnail", ".thumb")) or stem.startswith("thumb_")


def list_dir(folder: Path) -> tuple[list[Path], list[Path]]:
    """Non-stray sub-folders and files of ``folder``, each sorted by name (deterministic order).

    "Files" are all entries that are not folders (FIFOs, devices, dangling links included), plus
    folders named like a mesh file: the layout decides from the name whether it is a scan, and
    reading it refuses what is not a regular file. A folder that cannot be listed gives nothing
    here; the scan index quarantines it (:mod:`facevlm.scans.layouts.accounting`).
    """
    dirs: list[Path] = []
    files: list[Path] = []
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError:
        return dirs, files
    for entry in entries:
        if is_stray(entry.name):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir and os.path.splitext(entry.name)[1].lower() not in MESH_SUFFIXES:
            dirs.append(Path(entry.path))
        else:
            files.append(Path(entry.path))
    return dirs, files


def walk_files(folder: Path, _seen: set[str] | None = None) -> Iterator[Path]:
    """All non-stray files below ``folder`` (stray folders are not entered), in sorted order.

    A folder reached twice through symbolic links (a link loop) is walked once.
    """
    seen = set() if _seen is None else _seen
    real = os.path.realpath(folder)
    if real in seen:
        return
    seen.add(real)
    dirs, files = list_dir(folder)
    yield from files
    for sub in dirs:
        yield from walk_files(sub, seen)


def require_dir(root: str | Path, where: str) -> Path:
    """``root`` as a ``Path``; a missing root is a configuration error, not a bad scan."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{where}: dataset root {root} is not a folder")
    return root


# ---------------------------------------------------------------------------------- helpers
GENDER_PREFIX = {"F": "female", "M": "male"}


def gender_from_subject(subject: str) -> str | None:
    """BU-3DFE, BU-4DFE and BP4D encode gender as the subject prefix (``F0001``, ``M001``)."""
    return GENDER_PREFIX.get(subject[:1].upper()) if subject else None


def frame_number(path: Path) -> int:
    """Frame number of a per-frame file: the trailing digits of its stem (``0012``, ``f_12``).

    Raises:
        ScanError: the stem ends without digits.
    """
    match = re.search(r"([0-9]+)$", path.stem)
    if match is None:
        raise ScanError(path, f"frame file name {path.name!r} does not end with a frame number")
    return int(match.group(1))


def same_stem(path: Path, suffixes: tuple[str, ...]) -> Path | None:
    """The sibling of ``path`` with the same stem and one of ``suffixes`` (any letter case)."""
    for suffix in suffixes:
        for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
            try:
                if candidate.is_file():
                    return candidate
            except OSError:  # a name too long, a folder we may not search: not a sibling
                continue
    return None


# ---------------------------------------------------------------------------------- registry
_REGISTRY: dict[str, str] = {
    "synthetic": "facevlm.scans.layouts.synthetic:SyntheticLayout",
    "bu3dfe": "facevlm.scans.layouts.bu3dfe:BU3DFELayout",
    "bu4dfe": "facevlm.scans.layouts.bu4dfe:BU4DFELayout",
    "bosphorus": "facevlm.scans.layouts.bosphorus:BosphorusLayout",
    "bp4d": "facevlm.scans.layouts.bp4d:BP4DLayout",
    "4dme": "facevlm.scans.layouts.fourdme:FourDMELayout",
}
_ALIASES = {"bp4dspontaneous": "bp4d", "fourdme": "4dme"}

#: Names accepted by :func:`get_layout`.
LAYOUT_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def canonical_layout_name(name: str) -> str:
    """``"BU-3DFE"`` → ``"bu3dfe"``; raises ``KeyError`` listing valid names for unknown ones."""
    key = re.sub(r"[\s_\-()+]", "", name.lower())
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise KeyError(f"unknown dataset layout {name!r}; expected one of {', '.join(_REGISTRY)}")
    return key


#: ``dataset`` tag prefix of synthetic records (``synthetic-bu3dfe``).
SYNTHETIC_PREFIX = "synthetic-"


def base_dataset(dataset: str) -> str:
    """The layout behind a ``dataset`` tag: ``synthetic-bu3dfe`` → ``bu3dfe``, ``bp4d`` → same."""
    return dataset.removeprefix(SYNTHETIC_PREFIX)


@functools.cache
def texture_policy_for(dataset: str) -> TexturePolicy:
    """Texture policy of the layout behind a record's ``dataset`` tag."""
    return get_layout(base_dataset(dataset)).texture_policy


def get_layout(name: str) -> Layout:
    """The layout registered under ``name`` (case, dashes and underscores ignored).

    Modules are imported lazily so that the registry does not import every dataset module (and
    so that the dataset modules can import this one).
    """
    module_name, class_name = _REGISTRY[canonical_layout_name(name)].split(":")
    return getattr(importlib.import_module(module_name), class_name)()

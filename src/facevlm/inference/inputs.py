"""What to predict in a file or folder: single scans, and 4D sequences of numbered frames.

A researcher hands over what their dataset has on disk, so the rules follow the datasets'
layouts (``facevlm.scans.layouts``) rather than a format of our own:

- a mesh file (``.wrl``, ``.obj``, ``.ply``, ``.stl``, ``.off``, ``.glb``/``.gltf``, ``.bnt``) is
  one scan; its texture is found by its reader (VRML ``url`` or ``<NNN>.jpg``, OBJ ``mtllib``,
  a ``.gltf``'s image file, the ``.png`` beside a ``.bnt``; PLY, OFF and glTF may carry vertex
  colours instead);
- in a folder, the meshes of each sub-folder that are *numbered frames* (every stem ends in
  digits, at least two of them: BU-4DFE ``000.wrl``, BP4D ``0000.obj``, an OBJ clip) form one
  sequence, ordered by frame number; any other mesh is a scan of its own (a BU-3DFE subject
  folder gives its scans one by one).

Hidden files and OS litter (``__MACOSX``, ``Thumbs.db``) are skipped as ingest skips them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from facevlm.scans.errors import ScanError
from facevlm.scans.formats.dispatch import READERS
from facevlm.scans.layouts.base import frame_number, walk_files

#: Mesh file extensions (lower case) that can be predicted.
MESH_SUFFIXES: tuple[str, ...] = tuple(sorted(READERS))
_NUMBERED = re.compile(r"[0-9]+$")


@dataclass(frozen=True)
class ScanInput:
    """One static scan."""

    path: Path
    name: str  # how the scan is named in messages and output (the file as given)


@dataclass(frozen=True)
class SequenceInput:
    """A 4D sequence: its frame files in frame-number order."""

    frames: tuple[Path, ...]
    name: str  # the sequence folder as given

    @property
    def path(self) -> Path:
        return self.frames[0].parent


PredictionInput = ScanInput | SequenceInput


def is_mesh(path: Path) -> bool:
    return path.suffix.lower() in MESH_SUFFIXES


def find_inputs(path: str | Path, name: str | None = None) -> list[PredictionInput]:
    """The scans and sequences in ``path`` (a file or a folder), in a stable order.

    ``name`` replaces ``path`` in the names of what is found (the app names uploads by their
    original file names, not by its temporary folder).

    Raises:
        ScanError: ``path`` does not exist, or is a folder without any mesh file.
    """
    path = Path(path)
    shown = name or str(path)
    if path.is_file():
        return [ScanInput(path, shown)]
    if not path.is_dir():
        raise ScanError(path, "no such file or folder")
    meshes = [p for p in walk_files(path) if is_mesh(p)]
    if not meshes:
        raise ScanError(
            shown, f"no scan or 4D frame found (looked for {', '.join(MESH_SUFFIXES)} files)"
        )
    found: list[PredictionInput] = []
    for folder, group in groupby(meshes, key=lambda p: p.parent):
        files = list(group)
        where = _shown(shown, path, folder)
        if len(files) >= 2 and all(_NUMBERED.search(p.stem) for p in files):
            frames = sorted(files, key=lambda p: (frame_number(p), p.name))
            found.append(SequenceInput(tuple(frames), where))
        else:
            found.extend(ScanInput(p, _shown(shown, path, p)) for p in files)
    return found


def _shown(shown: str, root: Path, inner: Path) -> str:
    """``inner`` named relative to ``root`` under the name the user knows ``root`` by."""
    relative = inner.relative_to(root).as_posix()
    return shown if relative == "." else f"{shown}/{relative}"

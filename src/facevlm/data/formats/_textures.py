"""Finding the texture image a scan refers to, without ever leaving the scan's folder.

A texture reference inside a file (VRML ``url``, OBJ ``mtllib``/``map_Kd``, the name inside a
``.bnt``) is data from a collection we do not control. Resolving it naively would let a crafted
or corrupted file point the renderer at any file on the machine (``/etc/passwd``,
``../../secrets``). So a reference is accepted only as a relative path that stays inside the
folder of the file that names it; anything else is refused with a ScanError.

A reference to a file that simply is not there is not an error of the scan itself: the reader
returns ``texture_path=None`` and a note in ``mesh.metadata["warnings"]``, and ingest decides
whether an untextured scan is quarantined.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from pathlib import Path

from facevlm.data.errors import ScanError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # file:, http:, C: (a drive letter)


def safe_relative(reference: str, base_dir: Path, source: str | Path | None) -> Path:
    """``base_dir / reference`` after checking the reference cannot escape ``base_dir``.

    Backslashes are treated as separators (files written on Windows).

    Raises:
        ScanError: the reference is empty, absolute, has a scheme or drive letter, contains
            control characters, or climbs out of the folder with ``..``.
    """
    ref = reference.strip().replace("\\", "/")
    if not ref:
        raise ScanError(source, "empty texture reference")
    if any(ord(ch) < 32 for ch in ref):
        raise ScanError(source, f"texture reference {reference!r} contains control characters")
    if ref.startswith("/") or _SCHEME.match(ref):
        raise ScanError(
            source,
            f"texture reference {reference!r} is absolute; only paths "
            "relative to the scan's folder are accepted",
        )
    normal = posixpath.normpath(ref)
    if normal == ".." or normal.startswith("../"):
        raise ScanError(source, f"texture reference {reference!r} escapes the scan's folder")
    return base_dir / normal


def first_existing(candidates: list[Path]) -> Path | None:
    """The first candidate that is an existing file, made absolute."""
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def resolve_texture(
    reference: str | None,
    base_dir: Path,
    source: str | Path | None,
    warnings: list[str],
    fallbacks: Sequence[Path] = (),
) -> Path | None:
    """The texture file a scan uses, or None with a warning appended.

    ``reference`` (from inside the file) is tried first and refused if unsafe; when it is absent
    or names a missing file, the ``fallbacks`` (chosen by the reader, e.g. BU-4DFE's
    ``<NNN>.jpg``) are tried in order.
    """
    if reference is not None:
        named = safe_relative(reference, base_dir, source)
        found = first_existing([named])
        if found is not None:
            return found
        warnings.append(f"texture {reference!r} named in the file is missing")
    found = first_existing(list(fallbacks))
    if found is None and reference is None:
        tried = ", ".join(p.name for p in fallbacks)
        warnings.append("no texture" + (f" (looked for {tried})" if tried else ""))
    elif found is not None and reference is not None:
        warnings.append(f"using fallback texture {found.name}")
    return found

"""Finding the texture image a scan refers to, without ever leaving the scan's folder.

A texture reference inside a file (VRML ``url``, OBJ ``mtllib``/``map_Kd``, the name inside a
``.bnt``) is data from a collection we do not control. Resolving it naively would let a crafted
or corrupted file point the renderer at any file on the machine (``/etc/passwd``,
``../../secrets``). So a reference is accepted only as a relative path that stays inside the
folder of the file that names it; anything else is refused with a ScanError.

A reference that is syntactically safe can still lead out through a symbolic link
(``tex.bmp -> /etc/passwd``): every candidate is resolved through the reader's
:class:`~facevlm.scans.formats._files.ReadScope`, and one that lands outside the scope's root is
refused like an absolute reference.

A reference to a file that simply is not there (or that is not a regular file, or whose name the
file system refuses) is not an error of the scan itself: the reader returns
``texture_path=None`` and a note in ``mesh.metadata["warnings"]``, and ingest decides whether an
untextured scan is quarantined. :func:`texture_problem` checks an image's size and pixel count
from its header, before anything is decoded (the decompression-bomb check).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope, scope_for
from facevlm.scans.formats.limits import ReadLimits

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # file:, http:, C: (a drive letter)


def safe_relative(
    reference: str, base_dir: Path, source: str | Path | None, what: str = "texture"
) -> Path:
    """``base_dir / reference`` after checking the reference cannot escape ``base_dir``.

    Backslashes are treated as separators (files written on Windows). ``what`` names the file
    referred to in messages (a texture, a material library, a glTF buffer).

    Raises:
        ScanError: the reference is empty, absolute, has a scheme or drive letter, contains
            control characters, or climbs out of the folder with ``..``.
    """
    ref = reference.strip().replace("\\", "/")
    if not ref:
        raise ScanError(source, f"empty {what} reference")
    if any(ord(ch) < 32 for ch in ref):
        raise ScanError(source, f"{what} reference {reference!r} contains control characters")
    if ref.startswith("/") or _SCHEME.match(ref):
        raise ScanError(
            source,
            f"{what} reference {reference!r} is absolute; only paths "
            "relative to the scan's folder are accepted",
        )
    normal = posixpath.normpath(ref)
    if normal == ".." or normal.startswith("../"):
        raise ScanError(source, f"{what} reference {reference!r} escapes the scan's folder")
    return base_dir / normal


def first_existing(
    candidates: list[Path],
    source: str | Path | None = None,
    scope: ReadScope | None = None,
    notes: list[str] | None = None,
) -> Path | None:
    """The first candidate that is a regular file inside the scope, resolved.

    Candidates that exist but cannot be used (not a regular file, a name the file system
    refuses, a dangling link) are skipped with a note appended to ``notes``.

    Raises:
        ScanError: a candidate resolves outside the scope's root (a symlink leading out).
    """
    for candidate in candidates:
        where = source if source is not None else candidate
        found, problem = scope_for(where, scope).probe(candidate, where, "texture")
        if found is not None:
            return found
        if notes is not None and problem != "file not found":
            notes.append(f"texture {candidate.name[:80]!r} unusable: {problem}")
    return None


def resolve_texture(
    reference: str | None,
    base_dir: Path,
    source: str | Path | None,
    warnings: list[str],
    fallbacks: Sequence[Path] = (),
    scope: ReadScope | None = None,
) -> Path | None:
    """The texture file a scan uses, or None with a warning appended.

    ``reference`` (from inside the file) is tried first and refused if unsafe; when it is absent
    or names a missing file, the ``fallbacks`` (chosen by the reader, e.g. BU-4DFE's
    ``<NNN>.jpg``) are tried in order. ``scope`` (default: ``source``'s folder) bounds where a
    candidate may resolve to.
    """
    if reference is not None:
        named = safe_relative(reference, base_dir, source)
        found = first_existing([named], source, scope, warnings)
        if found is not None:
            return found
        warnings.append(f"texture {reference[:80]!r} named in the file is missing")
    found = first_existing(list(fallbacks), source, scope, warnings)
    if found is None and reference is None:
        tried = ", ".join(p.name for p in fallbacks)
        warnings.append("no texture" + (f" (looked for {tried})" if tried else ""))
    elif found is not None and reference is not None:
        warnings.append(f"using fallback texture {found.name}")
    return found


def colours_stand_in(mesh: Any, warnings: list[str]) -> None:
    """Drop the UVs of a mesh that has per-vertex colours but no texture image, with a note.

    UVs without an image cannot be drawn, the colours can: they are the texture of a scan that
    has no image (``docs/your-data.md``). Every reader that reads both ends with this, so that
    ``inspect``, ``render`` and ingest see the same scan whatever its format.
    """
    if (
        mesh.uv is not None
        and mesh.texture_path is None
        and mesh.texture_image is None
        and mesh.vertex_colors is not None
    ):
        warnings.append("texture coordinates dropped: no texture image, colours kept")
        mesh.uv = mesh.uv_indices = None


def texture_problem(path: str | Path, scope: ReadScope | None = None) -> str:
    """Why the image at ``path`` cannot be used as a texture ("" when it can).

    Checks, without decoding pixels: inside the scope, a regular file, at most
    ``limits.max_texture_bytes``, an image PIL recognises, at most ``limits.max_texture_pixels``
    pixels as its header declares (a 370-byte PNG can declare 100,000 x 100,000), and whole
    (PIL's ``verify``: a PNG's chunks all present with their checksums).
    """
    scope = scope_for(path, scope)
    limits: ReadLimits = scope.limits
    try:
        handle, _ = scope.open(
            path, what="texture", max_bytes=limits.max_texture_bytes,
            limit_name="max_texture_bytes",
        )  # fmt: skip
    except ScanError as error:
        return f"texture {Path(path).name[:80]}: {error.reason}"
    with handle:
        return _image_problem(handle, Path(path).name[:80], limits)


def decode_embedded_texture(data: bytes, name: str, limits: ReadLimits) -> tuple[Any, str]:
    """``((H, W, 3) uint8 RGB, row 0 at the top, "")`` of an image a scan file embeds (a glTF
    binary), or ``(None, why not)``: the same limits as a texture file, checked the same way
    before anything is decoded."""
    import io

    import numpy as np
    from PIL import Image

    if len(data) > limits.max_texture_bytes:
        return None, (
            f"texture {name}: {len(data)} bytes, above the limit of {limits.max_texture_bytes} "
            "(limits.max_texture_bytes)"
        )
    problem = _image_problem(io.BytesIO(data), name, limits)
    if problem:
        return None, problem
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB")), ""
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, f"texture {name}: not a readable image ({exc})"


def _image_problem(handle: BinaryIO, name: str, limits: ReadLimits) -> str:
    """Why the image in ``handle`` cannot be used ("" when it can), from its header alone."""
    import warnings as python_warnings

    from PIL import Image, UnidentifiedImageError

    with python_warnings.catch_warnings():
        python_warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(handle) as image:
                width, height = image.size
                if width * height <= limits.max_texture_pixels:
                    # walks the chunks and their checksums without decoding: a truncated PNG
                    # is found here, not only when the renderer decodes it
                    image.verify()
        except Image.DecompressionBombError as exc:  # far above any limit of ours
            declared = re.search(r"\((\d+) pixels\)", str(exc))
            pixels = declared[1] if declared else "too many"
            return (
                f"texture {name}: header declares {pixels} pixels (a "
                f"decompression bomb), above the limit of {limits.max_texture_pixels} "
                "(limits.max_texture_pixels)"
            )
        except UnidentifiedImageError:
            return f"texture {name}: not an image file PIL can read"
        except (OSError, ValueError, SyntaxError) as exc:
            return f"texture {name}: not a readable image ({exc})"
    if width * height > limits.max_texture_pixels:
        return (
            f"texture {name}: {width} x {height} pixels, above the limit of "
            f"{limits.max_texture_pixels} (limits.max_texture_pixels)"
        )
    if width == 0 or height == 0:
        return f"texture {name}: image of {width} x {height} pixels"
    return ""

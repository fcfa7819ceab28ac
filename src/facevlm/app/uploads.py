"""Uploaded files → scans and sequences on disk, without trusting anything in the upload.

Everything a browser sends is written into one per-session temporary folder
(:class:`UploadFolder`), which is removed when the prediction is done. Before anything is
written, each file is checked:

- its extension is one the app reads (meshes, their textures and material and landmark files,
  ``.zip``); the name is reduced to its last component, so a crafted name cannot climb out;
- its size is within the upload limit (Streamlit's ``server.maxUploadSize`` from
  ``.streamlit/config.toml`` is enforced again here, as a client can bypass the browser's check);
- a ``.zip`` is refused whole when any member has an absolute or ``..`` path, is a symlink or
  encrypted, when it has more than ``max_members`` members, or when the sizes it declares add up
  to more than ``max_uncompressed_bytes`` (a zip bomb). While extracting, the bytes actually
  written are counted too, so an archive that understates its sizes is stopped at the limit;
- a zip or a set of files with no mesh in it (a "4D zip" of images only) is refused.

Every refusal is an :class:`UploadError` naming the file (and the member) and the reason.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from facevlm.inference.inputs import MESH_SUFFIXES, PredictionInput, find_inputs
from facevlm.scans.errors import ScanError

#: Files that may accompany a mesh: textures, OBJ materials, glTF buffers, landmarks.
COMPANION_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".bmp", ".mtl", ".bin", ".bnd", ".landmark", ".lm3"
)  # fmt: skip
ARCHIVE_SUFFIXES = (".zip",)
ACCEPTED_SUFFIXES = MESH_SUFFIXES + COMPANION_SUFFIXES + ARCHIVE_SUFFIXES
MB = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1024 * 1024


class UploadError(ValueError):
    """An upload refused before prediction: ``<file>: <reason>``."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may be. ``max_upload_bytes`` should be Streamlit's own limit."""

    max_upload_bytes: int = 200 * MB
    max_members: int = 5000  # a BU-4DFE sequence is ~100 frames x 2 files
    max_uncompressed_bytes: int = 2 * 1024 * MB


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as the browser sent it and its bytes."""

    name: str
    data: bytes


@dataclass
class StagedUploads:
    """What an upload turned into: the inputs to predict and the files refused."""

    inputs: list[PredictionInput] = field(default_factory=list)
    errors: list[UploadError] = field(default_factory=list)


class UploadFolder:
    """A per-session temporary folder, removed on exit (``with UploadFolder() as folder``)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="facevlm-upload-"))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def safe_name(name: str) -> str:
    """The last component of an uploaded file name (browsers send names; clients can lie)."""
    return PurePosixPath(name.replace("\\", "/")).name.strip()


def check_upload(upload: Upload, limits: UploadLimits) -> str:
    """The file's safe name, after checking its name, extension and size."""
    name = safe_name(upload.name)
    if not name or name in (".", ".."):
        raise UploadError(upload.name or "(unnamed)", "the file has no usable name")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in ACCEPTED_SUFFIXES:
        raise UploadError(
            name,
            f"unsupported file type {suffix or '(no extension)'!r}; "
            f"accepted: {' '.join(ACCEPTED_SUFFIXES)}",
        )
    if len(upload.data) > limits.max_upload_bytes:
        raise UploadError(
            name,
            f"{len(upload.data) / MB:.1f} MB is over the upload limit of "
            f"{limits.max_upload_bytes / MB:.0f} MB",
        )
    return name


def stage_uploads(uploads: list[Upload], folder: Path, limits: UploadLimits) -> StagedUploads:
    """Check and write ``uploads`` under ``folder``; find the scans and sequences in them.

    Loose files go together into one sub-folder (a mesh finds the texture uploaded with it);
    each zip is extracted into a sub-folder of its own. One bad file does not stop the others.
    """
    staged = StagedUploads()
    loose = folder / "files"
    loose_names: list[str] = []
    for index, upload in enumerate(uploads):
        try:
            name = check_upload(upload, limits)
            if name.lower().endswith(ARCHIVE_SUFFIXES):
                target = folder / f"zip{index}"
                extract_zip(upload.data, name, target, limits)
                staged.inputs.extend(_inputs(target, name))
            else:
                loose.mkdir(parents=True, exist_ok=True)
                (loose / name).write_bytes(upload.data)
                loose_names.append(name)
        except UploadError as error:
            staged.errors.append(error)
    if loose_names:
        if any(PurePosixPath(n).suffix.lower() in MESH_SUFFIXES for n in loose_names):
            staged.inputs.extend(_inputs(loose, None))
        elif not staged.errors:  # a refused mesh was already reported
            staged.errors.append(
                UploadError(
                    ", ".join(loose_names),
                    f"no scan among the uploaded files; add the mesh ({' '.join(MESH_SUFFIXES)})",
                )
            )
    return staged


def _inputs(folder: Path, name: str | None) -> list[PredictionInput]:
    try:
        found = find_inputs(folder, name=name or "upload")
    except ScanError as error:
        raise UploadError(name or "upload", error.reason) from None
    if name is None:  # loose files: name each scan by its own file name
        found = [_renamed(item, folder) for item in found]
    return found


def _renamed(item: PredictionInput, folder: Path) -> PredictionInput:
    from dataclasses import replace

    shown = item.path.relative_to(folder).as_posix()
    return replace(item, name=shown if shown != "." else "uploaded frames")


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member may not be extracted, or None."""
    name = info.filename
    if "\x00" in name:
        return "has a NUL byte in its name"
    unix = name.replace("\\", "/")
    if unix.startswith("/") or _DRIVE.match(unix):
        return "has an absolute path"
    normal = posixpath.normpath(unix)
    if normal == ".." or normal.startswith("../") or "/../" in f"/{normal}/":
        return "has a '..' path that leaves the archive"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def extract_zip(data: bytes, name: str, target: Path, limits: UploadLimits) -> None:
    """Extract the zip ``data`` into ``target`` after checking every member (module docstring)."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UploadError(name, f"not a readable zip archive ({error})") from None
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise UploadError(
                name, f"{len(members)} members, more than the {limits.max_members} allowed"
            )
        for info in members:
            problem = member_problem(info)
            if problem:
                raise UploadError(name, f"member {info.filename!r} {problem}; archive refused")
        declared = sum(info.file_size for info in members)
        if declared > limits.max_uncompressed_bytes:
            raise UploadError(
                name,
                f"uncompresses to {declared / MB:.0f} MB, over the limit of "
                f"{limits.max_uncompressed_bytes / MB:.0f} MB (zip bomb?); archive refused",
            )
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()
        written = 0
        for info in members:
            if info.is_dir():
                continue
            path = (root / posixpath.normpath(info.filename.replace("\\", "/"))).resolve()
            if not path.is_relative_to(root):  # belt and braces after member_problem
                raise UploadError(name, f"member {info.filename!r} leaves the archive")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, open(path, "wb") as sink:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > limits.max_uncompressed_bytes:
                            raise UploadError(
                                name,
                                "uncompresses to more than the limit of "
                                f"{limits.max_uncompressed_bytes / MB:.0f} MB (zip bomb?); "
                                "archive refused",
                            )
                        sink.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
                if isinstance(error, UploadError):
                    raise
                raise UploadError(
                    name, f"member {info.filename!r} cannot be extracted ({error})"
                ) from None

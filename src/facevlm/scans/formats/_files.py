"""Opening scan files: the one place that decides whether a path may be read at all.

Ingest walks thousands of files from collections assembled by hand, and a scan names other files
(its texture, its ``.mtl``, landmarks beside it). A crafted or corrupted collection can point any
of these elsewhere: a texture that is a symlink to ``/etc/passwd``, a scan that is a FIFO (reading
it blocks forever) or a link to ``/dev/zero`` (reading it never ends), a 640 MB file of zeros.
So every file a reader opens goes through a :class:`ReadScope`:

1. the path is resolved (symlinks included) and must lie inside the scope's root: the dataset
   root for ingest, the scan's own folder for the CLI and the app;
2. it must be a regular file (``stat`` before opening, and again on the open descriptor, which
   is opened non-blocking so that even a FIFO swapped in meanwhile cannot block);
3. its size must be within the limit (:mod:`.limits`), and no more than that is ever read.

Every failure, including names the operating system refuses (``ENAMETOOLONG``) and permission
problems, becomes a :class:`ScanError` naming the file and the reason: one line in the quarantine
report rather than a traceback or a hang.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from facevlm.scans.errors import ScanError
from facevlm.scans.formats.limits import DEFAULT_LIMITS, ReadLimits, describe_bytes

T = TypeVar("T")

#: Start of the reason of a ScanError raised by the safety net rather than a specific check.
UNEXPECTED = "unreadable (unexpected"

#: Largest landmark or material file read (real ones are a few kB): splitting a huge text
#: into lines costs far more memory than the file itself.
COMPANION_MAX_BYTES = 16 * 2**20

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_FLAGS |= getattr(os, "O_NOFOLLOW", 0)  # the resolved path has no link left to follow


def os_reason(exc: OSError, name: str | Path) -> str:
    """Why the operating system refused ``name``, in words for a report.

    >>> os_reason(OSError(errno.ENAMETOOLONG, "File name too long"), "x" * 300)
    'name too long for the file system (300 characters)'
    """
    code = exc.errno
    if code == errno.ENOENT:
        return "file not found"
    if code == errno.ENAMETOOLONG:
        return f"name too long for the file system ({len(Path(name).name)} characters)"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.ENOTDIR:
        return "file not found (a folder on its path is a file)"
    if code == errno.ELOOP:
        return "symbolic link loop"
    if code == errno.EISDIR:
        return "is a directory, not a file"
    return f"cannot read: {exc.strerror or exc}"


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, for messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    return f"not a regular file: {file_kind(mode)}"


@dataclass(frozen=True)
class ReadScope:
    """Where a reader may read from, and how much.

    Attributes:
        root: resolved folder every opened file must lie in (symlinks resolved).
        limits: size limits (:class:`~facevlm.scans.formats.limits.ReadLimits`).
        where: the root in words, for messages ("the dataset root", "the scan's folder").
    """

    root: Path
    limits: ReadLimits = DEFAULT_LIMITS
    where: str = "the scan's folder"

    @classmethod
    def around(
        cls, path: str | Path, root: str | Path | None = None, limits: ReadLimits | None = None
    ) -> ReadScope:
        """The scope for reading ``path``: inside ``root`` if given, else the file's own folder
        (the folder the name is in, not where a symlink points)."""
        limits = limits or DEFAULT_LIMITS
        if root is None:
            folder = Path(os.path.abspath(path)).parent
            return cls(Path(os.path.realpath(folder)), limits, "the scan's folder")
        return cls(Path(os.path.realpath(root)), limits, f"the dataset root {root}")

    # ------------------------------------------------------------------ locating
    def locate(self, path: str | Path, source: str | Path, what: str) -> Path:
        """``path`` resolved; raises ScanError (naming ``source``) if it lies outside the root."""
        real = Path(os.path.realpath(path))
        if real != self.root and not real.is_relative_to(self.root):
            raise ScanError(
                source, f"{what} {Path(path).name} resolves to {real}, outside {self.where}"
            )
        return real

    def probe(self, path: str | Path, source: str | Path, what: str) -> tuple[Path | None, str]:
        """An optional companion file (texture, material, landmarks): ``(resolved path, "")``
        if it is a regular file inside the root, else ``(None, why not)``.

        A file that resolves outside the root is not "missing": it is refused (ScanError), since
        only a crafted or broken collection does that.
        """
        try:
            link = os.lstat(path)
        except OSError as exc:
            return None, os_reason(exc, path)
        except ValueError:  # an embedded NUL byte
            return None, "name contains a NUL byte"
        real = self.locate(path, source, what)
        try:
            mode = os.stat(real).st_mode
        except OSError as exc:
            if stat.S_ISLNK(link.st_mode) and exc.errno == errno.ENOENT:
                return None, f"dangling symbolic link to {os.readlink(path)}"
            return None, os_reason(exc, path)
        if not stat.S_ISREG(mode):
            return None, _not_regular(mode)
        return real, ""

    # ------------------------------------------------------------------ reading
    def open(
        self, path: str | Path, *, what: str = "scan", max_bytes: int | None = None,
        limit_name: str = "max_scan_bytes", source: str | Path | None = None,
    ) -> tuple[BinaryIO, int]:  # fmt: skip
        """Open a regular file inside the root for binary reading; return it and its size.

        Raises:
            ScanError (naming ``source``, default ``path``): outside the root, not found, a
                dangling link, not a regular file, larger than ``max_bytes`` (default
                ``limits.max_scan_bytes``), or refused by the operating system.
        """
        source = path if source is None else source
        prefix = "" if source == path else f"{what} {Path(path).name}: "
        max_bytes = self.limits.max_scan_bytes if max_bytes is None else max_bytes
        real, problem = self.probe(path, source, what)
        if real is None:
            raise ScanError(source, prefix + problem)
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError as exc:
            raise ScanError(source, prefix + os_reason(exc, path)) from None
        handle = os.fdopen(fd, "rb")
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):  # swapped after the first check
                raise ScanError(source, prefix + _not_regular(info.st_mode))
            if info.st_size > max_bytes:
                raise ScanError(
                    source,
                    f"{prefix}file is {describe_bytes(info.st_size)}, above the limit of "
                    f"{describe_bytes(max_bytes)} (limits.{limit_name})",
                )
        except BaseException:
            handle.close()
            raise
        return handle, info.st_size

    def read_bytes(self, path: str | Path, *, what: str = "scan", **kwargs) -> bytes:
        """The whole file (never more than the limit); raises ScanError like :meth:`open`, and
        for an empty file."""
        handle, _ = self.open(path, what=what, **kwargs)
        max_bytes = kwargs.get("max_bytes") or self.limits.max_scan_bytes
        source = kwargs.get("source") or path
        with handle:
            try:
                data = handle.read(max_bytes + 1)
            except OSError as exc:
                raise ScanError(source, os_reason(exc, path)) from None
        if len(data) > max_bytes:
            raise ScanError(source, f"file grew past the limit of {describe_bytes(max_bytes)}")
        if not data or data.isspace():
            raise ScanError(source, "empty file")
        return data

    def read_text(self, path: str | Path, *, what: str = "scan", **kwargs) -> str:
        """The whole file as UTF-8 text (a leading BOM dropped); non-text bytes raise ScanError."""
        data = self.read_bytes(path, what=what, **kwargs)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            source = kwargs.get("source") or path
            raise ScanError(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None


#: The two bytes every gzip stream starts with.
GZIP_MAGIC = b"\x1f\x8b"


def gunzip_bounded(data: bytes, max_bytes: int, path: str | Path) -> bytes:
    """``data`` decompressed if it is gzip (VRML files may be), never past ``max_bytes``.

    A few kB of gzip can expand to gigabytes; decompression stops one byte past the limit
    (``limits.max_scan_bytes``, the limit an uncompressed file would meet) and refuses.

    Raises:
        ScanError: corrupt or truncated gzip, or more than ``max_bytes`` once decompressed.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ScanError(path, f"corrupt gzip compression: {exc}") from None
    if len(out) > max_bytes:
        raise ScanError(
            path,
            f"gzip content above the limit of {describe_bytes(max_bytes)} once decompressed "
            "(limits.max_scan_bytes)",
        )
    if not inflater.eof:
        raise ScanError(path, "truncated gzip compression")
    if not out or out.isspace():
        raise ScanError(path, "empty file (gzip of nothing)")
    return out


def scope_for(path: str | Path, scope: ReadScope | None) -> ReadScope:
    """``scope``, or the default one around ``path`` (its own folder, default limits)."""
    return scope if scope is not None else ReadScope.around(path)


def read_bytes(path: str | Path, scope: ReadScope | None = None) -> bytes:
    """The whole file, read through ``scope`` (default: the file's own folder)."""
    return scope_for(path, scope).read_bytes(path)


def read_text(path: str | Path, scope: ReadScope | None = None) -> str:
    """The whole file as UTF-8 text, read through ``scope`` (default: the file's own folder)."""
    return scope_for(path, scope).read_text(path)


def reports_scan_errors(reader: Callable[..., T]) -> Callable[..., T]:
    """Decorate a reader so that an unforeseen failure still names the file.

    Readers check what they can foresee (sizes, counts, numbers, indices) and raise ScanError
    with a specific reason. This is the safety net behind those checks: any other parsing
    exception (an IndexError from a corrupt table, a struct.error, a TypeError from a JSON value
    of an unforeseen kind, a RecursionError, a MemoryError) becomes a ScanError too, so one
    strange file can never stop an ingest run. The fuzz tests assert that
    mutated files never reach this net, i.e. that every failure they find has a clear reason.
    """

    @functools.wraps(reader)
    def wrapper(path, *args, **kwargs):
        try:
            return reader(path, *args, **kwargs)
        except ScanError:
            raise
        except (
            ValueError,
            IndexError,
            KeyError,
            TypeError,
            OverflowError,
            RecursionError,
            MemoryError,
            struct.error,
            UnicodeError,
            OSError,
        ) as exc:
            raise ScanError(path, f"{UNEXPECTED} {type(exc).__name__}: {exc})") from exc

    return wrapper

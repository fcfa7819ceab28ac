"""Opening scan files so that every failure is a :class:`ScanError` naming the file.

Ingest walks thousands of files from collections assembled by hand; a missing file, a folder
where a file was expected, a permission problem or a file that is not text must each become one
line in the quarantine report rather than a traceback that stops the run.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from facevlm.data.errors import ScanError

T = TypeVar("T")

#: Start of the reason of a ScanError raised by the safety net rather than a specific check.
UNEXPECTED = "unreadable (unexpected"


def read_bytes(path: str | Path) -> bytes:
    """The whole file; raises ScanError if it cannot be read or is empty."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScanError(path, "file not found") from None
    except IsADirectoryError:
        raise ScanError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise ScanError(path, f"cannot read: {exc.strerror or exc}") from None
    if not data or data.isspace():
        raise ScanError(path, "empty file")
    return data


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text (a leading BOM dropped); non-text bytes raise ScanError."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScanError(path, f"not UTF-8 text (bad byte at offset {exc.start})") from None


def file_size(path: str | Path) -> int:
    """Size in bytes; raises ScanError like :func:`read_bytes`."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ScanError(path, "is a directory, not a file")
        return path.stat().st_size
    except FileNotFoundError:
        raise ScanError(path, "file not found") from None
    except OSError as exc:
        raise ScanError(path, f"cannot read: {exc.strerror or exc}") from None


def reports_scan_errors(reader: Callable[..., T]) -> Callable[..., T]:
    """Decorate a reader so that an unforeseen failure still names the file.

    Readers check what they can foresee (sizes, counts, numbers, indices) and raise ScanError
    with a specific reason. This is the safety net behind those checks: any other parsing
    exception (an IndexError from a corrupt table, a struct.error, a MemoryError) becomes a
    ScanError too, so one strange file can never stop an ingest run. The fuzz tests assert that
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
            OverflowError,
            MemoryError,
            struct.error,
            UnicodeError,
            OSError,
        ) as exc:
            raise ScanError(path, f"{UNEXPECTED} {type(exc).__name__}: {exc})") from exc

    return wrapper

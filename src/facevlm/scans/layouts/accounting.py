"""Every entry that looks like a scan is accounted for: indexed, quarantined or skipped.

A layout yields what it understands; everything else used to vanish without a trace: a dangling
symlink, a FIFO or a device link named like a scan, a folder named ``F0003_SA02AE_F3D.wrl/``, a
scan outside the folders a layout walks, a subject folder that cannot be read. A researcher
comparing "files on disk" with "rows in the index" could not tell what happened to the rest.

So after discovery and validation, the scan index walks the dataset root once more, cheaply (names
and ``lstat`` only, nothing is opened), and lists every entry whose name has a mesh extension.
Each must be a row of the index or a quarantine row; any other is added to the quarantine report
with stage ``skipped`` and the reason, and folders that cannot be read are quarantined with stage
``discover``. The counts then add up by construction, and :class:`Accounting` prints them.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from facevlm.scans.layouts.base import MESH_SUFFIXES, is_stray

#: Quarantine stages that concern a scan entry itself (as opposed to landmarks or label files).
SCAN_STAGES = frozenset({"discover", "read", "texture"})
#: Stage of entries that look like scans but that the layout does not index.
SKIPPED = "skipped"


@dataclass
class RootWalk:
    """What a walk of the dataset root found: scan-like entries and unreadable folders."""

    entries: list[Path] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def looks_like_scan(name: str) -> bool:
    """A name with a mesh extension that is not OS litter (``._x.wrl``, ``.DS_Store``)."""
    return not is_stray(name) and os.path.splitext(name)[1].lower() in MESH_SUFFIXES


def walk_root(root: Path) -> RootWalk:
    """Scan-like entries below ``root`` (of any file type) and folders that cannot be listed.

    Symlinked folders are followed once (a link loop is visited only once); stray folders
    (``__MACOSX``, hidden ones) are not entered, as in discovery.
    """
    found = RootWalk()
    seen: set[str] = set()
    pending = [Path(root)]
    while pending:
        folder = pending.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            found.unreadable.append((folder, _folder_reason(exc)))
            continue
        subfolders = []
        for entry in entries:
            if looks_like_scan(entry.name):
                found.entries.append(Path(entry.path))
            elif not is_stray(entry.name) and _is_dir(entry):
                subfolders.append(Path(entry.path))
        pending.extend(reversed(subfolders))
    return found


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _folder_reason(exc: OSError) -> str:
    what = "permission denied" if isinstance(exc, PermissionError) else exc.strerror or str(exc)
    return f"folder cannot be read ({what}): the scans in it are not indexed"


def skip_reason(path: Path, layout: str, read_folders: frozenset[str] = frozenset()) -> str:
    """Why a scan-like entry the layout did not yield is not indexed, as precisely as ``lstat``
    and its place can tell (nothing is opened). ``read_folders`` are the folders the layout
    took scans from: a regular file there was excluded by the layout's options."""
    try:
        link = os.lstat(path)
    except OSError as exc:
        return f"cannot be examined: {exc.strerror or exc}"
    if stat.S_ISLNK(link.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            return f"dangling symbolic link to {os.readlink(path)}"
        mode = target.st_mode
    else:
        mode = link.st_mode
    if stat.S_ISDIR(mode):
        return "a folder named like a scan, not a file"
    if not stat.S_ISREG(mode):
        from facevlm.scans.formats._files import file_kind

        return f"not a regular file: {file_kind(mode)}"
    if os.path.dirname(os.path.abspath(path)) in read_folders:
        return (
            f"not indexed by the {layout} layout: excluded by its options or name grammar "
            "(another scan kind, subset, neutral scans)"
        )
    return f"not indexed by the {layout} layout: in a folder it does not read"


@dataclass
class Accounting:
    """How the scan-like entries of a root were accounted for, and the other report rows."""

    layout: str
    entries: int
    indexed: int
    quarantined: int
    skipped: int
    other_rows: int
    reasons: Counter

    def summary(self) -> str:
        """One line for the run log: the counts, and that they add up."""
        total = self.indexed + self.quarantined + self.skipped
        check = "" if total == self.entries else f" (MISMATCH: {total} accounted)"
        return (
            f"{self.layout}: {self.entries} scan-like entries = {self.indexed} indexed + "
            f"{self.quarantined} quarantined + {self.skipped} skipped{check}; "
            f"{self.other_rows} other quarantine rows (landmarks, labels, folders)"
        )

    def top_reasons(self, n: int = 3) -> str:
        """The ``n`` most common reasons, with their counts."""
        return "; ".join(f"{count} x {reason}" for reason, count in self.reasons.most_common(n))


def account(
    layout: str,
    walk: RootWalk,
    indexed_paths: Iterable[str],
    quarantine: list[dict],
    dataset: str,
) -> Accounting:
    """Add ``skipped`` rows for scan-like entries neither indexed nor quarantined, and
    ``discover`` rows for unreadable folders, to ``quarantine`` (in place); return the counts."""
    indexed = {os.path.abspath(p) for p in indexed_paths}
    quarantined = {
        os.path.abspath(row["path"]) for row in quarantine if row["stage"] in SCAN_STAGES
    }
    entries = [os.path.abspath(p) for p in walk.entries]
    folders = {os.path.abspath(row["path"]): row["reason"] for row in quarantine}
    for folder, reason in walk.unreadable:
        quarantine.append(
            {"path": str(folder), "reason": reason, "dataset": dataset, "stage": "discover"}
        )
    read_folders = frozenset(os.path.dirname(p) for p in indexed | quarantined)
    n_indexed = n_quarantined = n_skipped = 0
    for entry in entries:
        if entry in indexed:
            n_indexed += 1
        elif entry in quarantined:
            n_quarantined += 1
        else:
            n_skipped += 1
            reason = _inside_quarantined(entry, folders) or skip_reason(
                Path(entry), layout, read_folders
            )
            quarantine.append(
                {"path": entry, "reason": reason, "dataset": dataset, "stage": SKIPPED}
            )
    entry_set = set(entries)
    other = sum(
        1
        for row in quarantine
        if row["stage"] != SKIPPED
        and not (row["stage"] in SCAN_STAGES and os.path.abspath(row["path"]) in entry_set)
    )
    reasons = Counter(_generic(row["reason"]) for row in quarantine)
    return Accounting(layout, len(entries), n_indexed, n_quarantined, n_skipped, other, reasons)


def _inside_quarantined(entry: str, folders: dict[str, str]) -> str:
    """ "inside <folder>, quarantined: <reason>" when a folder above ``entry`` is quarantined."""
    parent = os.path.dirname(entry)
    while parent and parent != os.path.dirname(parent):
        if parent in folders:
            return f"inside {parent}, which is quarantined: {folders[parent]}"
        parent = os.path.dirname(parent)
    return ""


def _generic(reason: str) -> str:
    """A reason with file names and numbers blurred, so that equal causes count together."""
    words = []
    for word in reason.split():
        if any(ch.isdigit() for ch in word) or "/" in word or "'" in word:
            words.append("[...]")
        else:
            words.append(word)
    return " ".join(words)[:160]

"""Rendered views on disk as one ``(N, V, H, W, 3)`` uint8 ``.npy`` file, read a few rows at a time.

Why: holding every decoded PNG of a render set in RAM makes training memory grow with the dataset
(BU-4DFE at 224 px is gigabytes). A render set therefore also writes its views once into a
``views.npy`` file (NumPy's own format, so ``np.load(path, mmap_mode="r")`` opens it anywhere),
and training and evaluation read only the rows of the current batch from it.

Rows are read with positional reads (``os.pread``) instead of through a memory map: pages of a
memory map that were touched count towards the process's resident memory until the kernel evicts
them, so an epoch over a memory-mapped 10 GB file looks like a 10 GB process; a positional read
copies the rows into a small buffer and leaves the file in the page cache, which belongs to nobody.

    >>> store = write_view_store("views.npy", rows_of_views, n=100, n_views=3, size=(224, 224))
    >>> store[3].shape              # one sample: (3, 224, 224, 3), read from disk now
    >>> train = store[train_rows]   # a lazy subset: nothing is read yet
    >>> batch = train.take([0, 5])  # (2, 3, 224, 224, 3)
    >>> small = store.resized(64)   # views_64px.npy beside it, written once, reused afterwards

Every file is written to a temporary name and renamed, so a killed process never leaves a
half-written store that a later run would take for a complete one.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facevlm.atomic_files import atomic_write
from facevlm.digests import fingerprint_hasher

#: The header of a view store: shape, dtype and the content digest (written beside the ``.npy``).
META_SUFFIX = ".json"
_RESIZE_CHUNK = 64  # samples per resize step: bounds the float copy


def resize_chunk(views: np.ndarray, size: int) -> np.ndarray:
    """``(n, V, H, W, 3)`` uint8 -> ``(n, V, size, size, 3)`` uint8, bilinear with antialiasing."""
    n, v, h, w, _ = views.shape
    if h == size and w == size:
        return np.ascontiguousarray(views)
    x = torch.from_numpy(np.ascontiguousarray(views)).reshape(-1, h, w, 3).permute(0, 3, 1, 2)
    x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True)
    x = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return x.reshape(n, v, size, size, 3).numpy()


def _meta_path(path: Path) -> Path:
    return path.with_suffix(META_SUFFIX)


def write_view_store(
    path: str | Path,
    rows: Iterable[np.ndarray],
    n: int,
    n_views: int,
    size: tuple[int, int],
    extra_meta: dict[str, Any] | None = None,
) -> ViewArray:
    """Write ``n`` samples of ``(n_views, H, W, 3)`` uint8 views to ``path`` (``.npy``), atomically.

    ``rows`` yields either one sample ``(V, H, W, 3)`` or a chunk ``(k, V, H, W, 3)`` at a time,
    so the caller never has to hold the whole set. Returns the store, opened.
    """
    path = Path(path)
    shape = (n, n_views, *size, 3)
    digest = fingerprint_hasher()
    digest.update(repr(shape).encode())
    # the header's block encloses the data's, so the data is renamed into place first: a store
    # without its header is rewritten
    with atomic_write(_meta_path(path)) as tmp_meta, atomic_write(path) as tmp:
        # plain sequential writes, not a memory map: written pages of a map count towards the
        # writer's resident memory, so writing a 5 GB store would look like a 5 GB process
        with tmp.open("wb") as out:
            header = {"descr": np.dtype(np.uint8).str, "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(out, header)
            filled = 0
            for chunk in rows:
                chunk = np.asarray(chunk)
                if chunk.ndim == 4:
                    chunk = chunk[None]
                if chunk.dtype != np.uint8 or chunk.shape[1:] != shape[1:]:
                    raise ValueError(
                        f"{path}: expected rows of {shape[1:]} uint8, got {chunk.shape} {chunk.dtype}"
                    )
                if filled + len(chunk) > n:
                    raise ValueError(f"{path}: more than the announced {n} samples")
                data = np.ascontiguousarray(chunk).data
                out.write(data)
                digest.update(data)
                filled += len(chunk)
            if filled != n:
                raise ValueError(f"{path}: announced {n} samples, got {filled}")
        meta = {"shape": list(shape), "dtype": "uint8", "digest": digest.hexdigest()}
        meta.update(extra_meta or {})
        tmp_meta.write_text(json.dumps(meta, indent=2))
    return ViewArray(path)


def is_complete_store(path: str | Path) -> bool:
    """Whether ``path`` and its header exist and agree on the shape (a store to reuse)."""
    path = Path(path)
    meta = _meta_path(path)
    if not (path.exists() and meta.exists()):
        return False
    try:
        shape = list(np.load(path, mmap_mode="r").shape)
        return json.loads(meta.read_text()).get("shape") == shape
    except (ValueError, OSError, json.JSONDecodeError):
        return False


class ViewArray:
    """Lazy ``(N, V, H, W, 3)`` uint8 rows of a view store; reads happen on indexing.

    Indexing with an int reads one sample ``(V, H, W, 3)``; indexing with a slice, a list or an
    integer array gives another lazy :class:`ViewArray` (the rows of a fold), ``take(indices)``
    reads a batch. ``np.asarray(view_array)`` reads everything (for small sets and plots only).
    It pickles as (path, rows, views), so DataLoader worker processes reopen the file themselves.

    Args:
        path: the ``.npy`` file.
        rows: which rows of the file, in order (``None``: all).
        views: which views of each row (``None``: all).
    """

    def __init__(
        self,
        path: str | Path,
        rows: np.ndarray | Sequence[int] | None = None,
        views: Sequence[int] | None = None,
    ):
        self.path = Path(path)
        try:
            mm = np.load(self.path, mmap_mode="r")  # parses the header; reads no row
        except (OSError, ValueError) as err:
            raise ValueError(f"{self.path}: not a readable view store ({err})") from err
        if mm.ndim != 5 or mm.shape[-1] != 3 or mm.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: expected (N, V, H, W, 3) uint8, got {mm.shape} {mm.dtype}"
            )
        if not mm.flags.c_contiguous:
            raise ValueError(f"{self.path}: a Fortran-ordered array cannot be read by rows")
        self._file_shape = tuple(mm.shape)
        self._offset = int(mm.offset)
        del mm
        n = self._file_shape[0]
        self.rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(self.rows) and (self.rows.min() < 0 or self.rows.max() >= n):
            raise IndexError(f"{self.path}: row index out of range for {n} samples")
        self.views = None if views is None else [int(v) for v in views]
        self._fd: int | None = None
        self._fd_pid: int | None = None

    # ---- array-like surface --------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        _, v, h, w, c = self._file_shape
        return (len(self.rows), v if self.views is None else len(self.views), h, w, c)

    ndim = 5
    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, key):
        if isinstance(key, int | np.integer):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"sample {i} out of range for {len(self)} samples")
            return self.take([i % len(self)])[0]
        if isinstance(key, slice):
            return ViewArray(self.path, self.rows[key], self.views)
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean index of shape {idx.shape} for {len(self)} samples")
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) and len(idx):
            raise IndexError(f"ViewArray rows take an int, a slice or a 1-D index, got {key!r}")
        return ViewArray(self.path, self.rows[idx.astype(np.int64)], self.views)

    def select_views(self, views: Sequence[int]) -> ViewArray:
        """The same rows with only ``views`` (indices into the current views)."""
        current = list(range(self._file_shape[1])) if self.views is None else self.views
        return ViewArray(self.path, self.rows, [current[v] for v in views])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.take(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Read samples ``indices`` (positions in this array) as ``(B, V, H, W, 3)`` uint8."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        _, v, h, w, c = self._file_shape
        row_bytes = v * h * w * c
        out = np.empty((len(idx), v, h, w, c), dtype=np.uint8)
        fd = self._descriptor()
        flat = out.reshape(len(idx), row_bytes)
        for k, row in enumerate(self.rows[idx]):
            offset = self._offset + int(row) * row_bytes
            got = os.preadv(fd, [memoryview(flat[k])], offset)
            if got != row_bytes:
                raise OSError(f"{self.path}: short read of row {row} ({got} of {row_bytes} bytes)")
        return out if self.views is None else out[:, self.views]

    # ---- identity, resizing, pickling ----------------------------------------------------------

    def fingerprint(self) -> str:
        """A digest of the content this array reads: the file's content digest, rows and views."""
        meta = _meta_path(self.path)
        if meta.exists():
            content = json.loads(meta.read_text()).get("digest", "")
        else:  # a store written by someone else: its identity on disk stands in for the content
            stat = self.path.stat()
            content = f"{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        h = fingerprint_hasher()
        h.update(content.encode())
        h.update(np.ascontiguousarray(self.rows).data)
        h.update(repr(self.views).encode())
        return h.hexdigest()

    def resized(self, size: int) -> ViewArray:
        """The same rows and views at ``size`` x ``size``, from ``<stem>_<size>px.npy`` beside the
        store (written once from the whole store, chunk by chunk, and reused while the source's
        digest is unchanged)."""
        _, v, h, w, _ = self._file_shape
        if (h, w) == (size, size):
            return self
        cache = self.path.with_name(f"{self.path.stem}_{size}px.npy")
        source = self._content_digest()
        if not (is_complete_store(cache) and _read_meta(cache).get("source_digest") == source):
            whole = ViewArray(self.path)
            chunks = (
                resize_chunk(whole.take(np.arange(s, min(s + _RESIZE_CHUNK, len(whole)))), size)
                for s in range(0, len(whole), _RESIZE_CHUNK)
            )
            meta = {"source": self.path.name, "source_digest": source}
            write_view_store(cache, chunks, len(whole), v, (size, size), extra_meta=meta)
        return ViewArray(cache, self.rows, self.views)

    def _content_digest(self) -> str:
        return _read_meta(self.path).get("digest", "") or ViewArray(self.path).fingerprint()

    def _descriptor(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._fd_pid != pid:  # a forked worker opens its own
            self._fd = os.open(self.path, os.O_RDONLY)
            self._fd_pid = pid
        return self._fd

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "views": self.views}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["rows"], state["views"])

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and self._fd_pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def __repr__(self) -> str:
        return f"ViewArray({str(self.path)!r}, shape={self.shape})"


def _read_meta(path: Path) -> dict[str, Any]:
    meta = _meta_path(path)
    try:
        return json.loads(meta.read_text()) if meta.exists() else {}
    except json.JSONDecodeError:
        return {}


def array_fingerprint(views: Any) -> str:
    """A digest of views held as a :class:`ViewArray` (its content digest) or an array (its
    bytes); used to key checkpoints and bundles by the data they were made from."""
    if isinstance(views, ViewArray):
        return views.fingerprint()
    arr = np.ascontiguousarray(np.asarray(views))
    h = fingerprint_hasher()
    h.update(repr((arr.shape, str(arr.dtype))).encode())
    h.update(arr.data)
    return h.hexdigest()

"""Writing a file atomically: the whole new file or the previous one, never half of either.

Caches, checkpoints and view stores are read back by later runs, which take a file that exists
for a complete one. A run killed while writing such a file in place would leave a truncated file
that the next run reads as whole (or fails on). Written to a temporary file in the same folder
and then renamed over its final name (``os.replace``, atomic within one file system), the file is
always either the previous one or the complete new one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the file to: renamed over ``path`` when the
    block ends, deleted when the block raises (``path`` is then left as it was).

    Any writer that takes a path can write it (``torch.save``, ``DataFrame.to_parquet``,
    ``Path.write_text``); give one that appends its own extension to a name (``np.save``) the open
    file instead. The folder of ``path`` is made if missing::

        with atomic_write(cache_file) as tmp:
            index.to_parquet(tmp, index=False)

        with atomic_write(entry) as tmp, tmp.open("wb") as out:
            np.save(out, views)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # one temporary per process and thread, so that two writers of one file never share it. The
    # part that differs comes after the name's last dot: torch.save names the archive inside
    # the file after the file's name up to its last dot, so the bytes do not depend on the writer
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""Atomic writes: a finished write replaces the file whole, a failed one leaves the previous file
and no temporary behind, whatever writes the bytes (a path-taking writer or an open file)."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.atomic_files import atomic_write


def test_a_finished_write_replaces_the_file_whole_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "cache" / "entry.json"  # the folder is made
    with atomic_write(target) as tmp:
        tmp.write_text("a long first version\n")
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent  # a rename within one folder is atomic
        assert not target.read_text().startswith("short")  # nothing written in place
        tmp.write_text("short\n")
    assert target.read_text() == "short\n"  # no tail of the longer file it replaced
    assert [p.name for p in target.parent.iterdir()] == ["entry.json"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "views.npy"
    np.save(target, np.arange(3))
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as tmp, tmp.open("wb") as out:
        np.save(out, np.arange(1000))
        raise KeyboardInterrupt  # killed half-way through a write
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["views.npy"]


def test_a_failed_first_write_leaves_no_file_at_all(tmp_path):
    target = tmp_path / "index.parquet"
    with pytest.raises(OSError), atomic_write(target) as tmp:
        tmp.write_bytes(b"half a parquet file")
        raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []

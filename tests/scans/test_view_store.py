"""The on-disk view store: written atomically, read by rows, lazy subsets, resized once."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from facevlm.experiments.experiment_data import resize_views
from facevlm.scans.view_store import (
    ViewArray,
    array_fingerprint,
    is_complete_store,
    write_view_store,
)


def views(n=10, v=3, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, v, size, size, 3), dtype=np.uint8)


def store(tmp_path, array, name="views.npy"):
    return write_view_store(
        tmp_path / name, iter(array), len(array), array.shape[1], array.shape[2:4]
    )


def test_written_store_reads_back_every_row_and_opens_with_numpy(tmp_path):
    array = views()
    written = store(tmp_path, array)
    np.testing.assert_array_equal(np.asarray(written), array)
    np.testing.assert_array_equal(np.load(tmp_path / "views.npy", mmap_mode="r"), array)
    assert written.shape == array.shape and len(written) == 10 and written.dtype == np.uint8
    np.testing.assert_array_equal(written[3], array[3])
    np.testing.assert_array_equal(written[-1], array[-1])
    with pytest.raises(IndexError):
        written[10]


def test_chunks_and_single_rows_are_both_accepted(tmp_path):
    array = views(n=7)
    chunks = [array[:3], array[3], array[4:]]
    written = write_view_store(tmp_path / "v.npy", chunks, 7, 3, (16, 16))
    np.testing.assert_array_equal(np.asarray(written), array)


def test_subsets_are_lazy_and_compose(tmp_path):
    array = views()
    written = store(tmp_path, array)
    rows = np.array([8, 1, 5, 2])
    subset = written[rows]
    assert isinstance(subset, ViewArray) and subset.shape == (4, 3, 16, 16, 3)
    np.testing.assert_array_equal(subset.take([2, 0]), array[rows[[2, 0]]])
    np.testing.assert_array_equal(np.asarray(subset[1:3]), array[rows[1:3]])
    mask = np.zeros(10, bool)
    mask[[0, 9]] = True
    np.testing.assert_array_equal(np.asarray(written[mask]), array[mask])
    frontal = subset.select_views([0])
    assert frontal.shape == (4, 1, 16, 16, 3)
    np.testing.assert_array_equal(np.asarray(frontal), array[rows][:, [0]])


def test_a_view_array_pickles_and_reads_in_another_process(tmp_path):
    array = views()
    subset = store(tmp_path, array)[[4, 2]]
    subset.take([0])  # opens the file in this process
    clone = pickle.loads(pickle.dumps(subset))
    np.testing.assert_array_equal(np.asarray(clone), array[[4, 2]])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked DataLoader worker reopens the file instead of sharing the descriptor
        ok = np.array_equal(subset.take([1]), array[[2]])
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"


def test_resized_copy_is_written_once_beside_the_store_and_matches_resize_views(tmp_path):
    array = views(n=5, size=32)
    written = store(tmp_path, array)
    small = written[[3, 1]].resized(16)
    cache = tmp_path / "views_16px.npy"
    assert small.path == cache and is_complete_store(cache)
    np.testing.assert_array_equal(np.asarray(small), resize_views(array, 16)[[3, 1]])
    before = cache.stat().st_mtime_ns
    again = written.resized(16)
    assert cache.stat().st_mtime_ns == before  # reused
    np.testing.assert_array_equal(np.asarray(again), resize_views(array, 16))
    assert written.resized(32) is written

    store(tmp_path, views(n=5, size=32, seed=1))  # new content: the cache is rewritten
    np.testing.assert_array_equal(
        np.asarray(ViewArray(tmp_path / "views.npy").resized(16)),
        resize_views(views(n=5, size=32, seed=1), 16),
    )


def test_fingerprint_follows_content_rows_and_views(tmp_path):
    array = views()
    a = store(tmp_path, array, "a.npy")
    b = store(tmp_path, array, "b.npy")
    c = store(tmp_path, views(seed=2), "c.npy")
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a[[0, 1]].fingerprint() != a[[1, 0]].fingerprint()
    assert a.select_views([0]).fingerprint() != a.fingerprint()
    assert array_fingerprint(array) == array_fingerprint(array.copy())
    assert array_fingerprint(array) != array_fingerprint(views(seed=2))


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    array = views(n=4)

    def rows():
        yield array[0]
        yield array[1]
        raise KeyboardInterrupt  # killed half-way

    with pytest.raises(KeyboardInterrupt):
        write_view_store(tmp_path / "views.npy", rows(), 4, 3, (16, 16))
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="announced 4 samples, got 2"):
        write_view_store(tmp_path / "v.npy", iter(views(n=2)), 4, 3, (16, 16))
    with pytest.raises(ValueError, match="expected rows of"):
        write_view_store(tmp_path / "v.npy", iter(views(n=2, v=2)), 2, 3, (16, 16))
    (tmp_path / "bad.npy").write_bytes(b"no header")
    with pytest.raises(ValueError, match="bad.npy"):
        ViewArray(tmp_path / "bad.npy")
    np.save(tmp_path / "flat.npy", np.zeros((4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"flat.npy: expected \(N, V, H, W, 3\)"):
        ViewArray(tmp_path / "flat.npy")

"""How parallel stages share the cores: a pool worker runs its numerical libraries on one thread,
since the pool already runs one worker per core."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from facevlm.cores import one_thread_per_worker


@pytest.fixture(autouse=True)
def _default_thread_settings(monkeypatch):
    """Each pool worker starts in an environment that sets no thread counts, as a user's
    shell does: the test session sets them for its own processes (tests/conftest.py), and a
    worker inheriting them would run on one thread with or without the initializer."""
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)


def _blas_threads() -> list[int]:
    import numpy as np  # noqa: F401  (loads the BLAS whose threads are counted)
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_a_pool_worker_started_with_the_initializer_runs_blas_on_one_thread():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=one_thread_per_worker) as pool:
        limited = pool.submit(_blas_threads).result()
    assert limited and all(n == 1 for n in limited)


def test_without_it_a_worker_would_start_a_blas_thread_per_core():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        default = pool.submit(_blas_threads).result()
    # the thread count the initializer takes away (one core machines have nothing to take)
    assert default and (max(default) > 1 or multiprocessing.cpu_count() == 1)

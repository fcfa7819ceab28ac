"""How many CPU cores this process may use: the one answer every parallel stage asks for."""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's total: a container or
    ``taskset`` may allow fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_processes(configured: int | None) -> int:
    """Processes a parallel stage runs: the configured count, or one per available core when the
    setting is null (or 0), as every stage's ``n_workers`` (``workers``) setting reads."""
    return int(configured) if configured else available_cores()


def one_thread_per_worker() -> None:
    """Pool initializer: this worker process runs its numerical libraries (BLAS, OpenMP) on one
    thread.

    Why: a pool already runs one process per core, and each worker's BLAS would start a thread
    per core of its own, two busy threads on every core; the many small matrix products of the
    face pose and the mesh generators then wait on each other's threads (what it saves at
    ingest: docs/benchmarks.md, "Pipeline wall times").
    """
    # libraries loaded later (numpy's BLAS, scipy's, torch's OpenMP) read these when they load;
    # any loaded already are limited by threadpoolctl
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)

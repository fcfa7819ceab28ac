"""Train a run's jobs (folds, a final fit) in processes side by side, on CPU.

Why: the default CPU recipe is a small model whose step is many small operations, and a
second thread makes one process's step only about 1.4 times faster (AffectVLM, batch 32: 154 ms
a step on two threads against 218 ms on one), while two single-thread processes, each training
its own fold, keep nearly one thread's speed each (226 ms): 1.36 times the throughput on two
cores (``benchmarks/train_step.py``; docs/benchmarks.md, "Scaling over processes"). The folds of a
cross-validation and the final fit on every subject are independent trainings, so each process
takes whole ones. :func:`facevlm.runner.run.train_jobs` decides when the jobs it is given train
here.

Nothing here changes a bit of what is computed. Each process runs on the session's thread
count and inherits this one's code paths with the environment, which it holds before it loads
numpy or torch (:mod:`facevlm.numerics`): the pinned ones in a run whose command pinned them,
the libraries' own choice in a process that pinned nothing. A process whose libraries loaded
before it pinned theirs trains alone, since its new processes would compute on another path.
A job trains as it would in one process: a fold by
:func:`~facevlm.runner.bundle_training.train_folds`, the final fit by
:func:`~facevlm.runner.bundle_training.train_final_fit`, into the run folder where the caller
then reads them back. A killed run resumes the same way as one trained in a single process.

Kedro-free, like the rest of the runner.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from facevlm.cores import available_cores
from facevlm.numerics import unpinned_libraries

logger = logging.getLogger(__name__)

#: Overrides ``execution.cpu_processes``: the test suite sets it to 1, its own processes
#: already take every core.
PROCESSES_VARIABLE = "FACEVLM_CPU_PROCESSES"
#: The job that trains on every subject (the others are fold numbers).
FINAL_FIT = "final fit"


def side_by_side_processes(configured: int | str | None, jobs: int, threads: int) -> int:
    """How many processes train ``jobs`` trainings side by side: ``configured``
    (``execution.cpu_processes``; :data:`PROCESSES_VARIABLE` wins), where ``auto`` is one per
    ``threads`` available cores, and ``None`` or 1 is this process alone; never more than the
    jobs."""
    value: Any = os.environ.get(PROCESSES_VARIABLE, "").strip() or configured
    if value in (None, "", 0, "0"):
        return 1
    unpinned = unpinned_libraries()
    if unpinned:
        # the new processes would load them on the pinned path, this one did not: their folds
        # would be others' bits, and this process would train them again
        logger.warning(
            "training in this process: %s loaded before facevlm pinned the numerical path, "
            "so processes started now would compute other bits (call "
            "facevlm.numerics.pin_process() before numpy and torch load)",
            " and ".join(unpinned),
        )
        return 1
    if value == "auto":
        processes = available_cores() // max(1, threads)
    elif str(value).isdigit():
        processes = int(value)
    else:
        raise ValueError(f"execution.cpu_processes must be auto, null or a count, got {value!r}")
    return max(1, min(processes, jobs))


def train_side_by_side(
    bundle_dir: Path,
    out_dir: Path,
    folds: list[int],
    final_fit_dir: Path | None,
    processes: int,
    threads: int,
    overrides: dict[str, Any],
    title: str,
) -> None:
    """Train ``folds`` of the bundle into ``out_dir``, and the final fit into ``final_fit_dir``
    (``None``: no final fit), by ``processes`` processes of ``threads`` threads each.

    Raises the first failure of a training once the trainings already running end (those not
    started are cancelled); a process that dies (out of memory, say) is a
    :class:`RuntimeError` that says how to train in this process instead."""
    jobs: list[int | str] = [*folds, *([FINAL_FIT] if final_fit_dir is not None else [])]
    logger.info(
        "%s: %s trained by %d processes side by side, %d thread(s) each",
        title,
        f"{len(folds)} fold(s)" + (" and the final fit" if final_fit_dir is not None else ""),
        processes,
        threads,
    )
    # the processes' own progress bars would write over each other's, and augmenting the next
    # batch in a thread of its own (prefetch) needs a core that the other processes now hold
    overrides = {**overrides, "execution.progress": False, "execution.prefetch": False}
    context = multiprocessing.get_context("spawn")  # a fork would copy this process's threads
    try:
        with ProcessPoolExecutor(
            max_workers=processes,
            mp_context=context,
            initializer=_start_process,
            initargs=(threads,),
        ) as pool:
            started = time.monotonic()
            futures = [
                pool.submit(
                    _train_job, str(bundle_dir), str(out_dir), job, final_fit_dir, overrides
                )
                for job in jobs
            ]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in done:
                future.result()  # the first failure, raised here
            logger.info("%s: trained side by side in %.1f s", title, time.monotonic() - started)
    except BrokenProcessPool as error:
        raise RuntimeError(
            f"{title}: a training process died ({error}); it may have run out of memory. "
            "Train in this process instead: execution.cpu_processes: 1"
        ) from error


def _start_process(threads: int) -> None:
    """Pool initializer: the session's thread count, and the package's log records (each
    fold's progress, a resumed checkpoint) on the console as the parent shows them: a Kedro
    run sets its package's logger to INFO when the project starts, which a new process does
    not."""
    from facevlm.numerics import pin_threads

    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)-8s %(message)s")
    package = logging.getLogger("facevlm")
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    pin_threads(threads)


def _train_job(
    bundle_dir: str,
    out_dir: str,
    job: int | str,
    final_fit_dir: Path | None,
    overrides: dict[str, Any],
) -> None:
    """One training: a fold (its result and model into ``out_dir``) or the final fit (its epoch
    checkpoints into ``final_fit_dir``)."""
    from facevlm.runner.bundle_training import train_final_fit, train_folds

    if job != FINAL_FIT:
        train_folds(bundle_dir, out_dir, [int(job)], overrides)
        return
    assert final_fit_dir is not None
    train_final_fit(bundle_dir, final_fit_dir, overrides)

"""Overlapping data loading and augmentation with the training step.

On CPU the next batch is augmented in a background thread while the current step runs (the same
batches and augmentation draws as without it); on CUDA with in-process loading one thread loads
batches ahead while the GPU computes.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from facevlm.cores import available_cores
from facevlm.models.multiview_data import MultiviewBatch
from facevlm.trainer.execution import ExecutionConfig


def prefetch_enabled(execution: ExecutionConfig, device: torch.device) -> bool:
    """Whether the loop's epoch augments the next batch in a background thread."""
    if execution.prefetch is not None:
        return execution.prefetch and device.type == "cpu"
    if device.type != "cpu":
        return False  # the augmentation is asynchronous GPU work already
    return torch.get_num_threads() < available_cores()  # a free core to augment on


def loaded_ahead(loader: Iterable[MultiviewBatch], depth: int = 2) -> Iterator[MultiviewBatch]:
    """The batches of ``loader``, in order, loaded by one background thread up to ``depth``
    batches ahead.

    For CUDA training with in-process loading (``num_workers: 0``): the caller only enqueues GPU
    work, so while the GPU runs step k this thread gathers (and pins) batch k+1. On an H100 this
    beat loader worker processes, which are started again every epoch and pass each batch
    through shared memory (``docs/what-we-tried/training-speed.md``). Prompt draws (the global
    RNG) then
    happen in this thread only. An error in the loader is raised here, in the caller's thread.
    """
    batches: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def load() -> None:
        try:
            for batch in loader:
                if not put(batch):
                    return
            put(done)
        except BaseException as error:  # handed to the caller's thread
            put(error)

    thread = threading.Thread(target=load, name="facevlm-load-ahead", daemon=True)
    thread.start()
    try:
        while (item := batches.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def augmented_batches(
    loader: Iterable[MultiviewBatch],
    device: torch.device,
    augment: Callable[..., torch.Tensor] | None,
    generator: torch.Generator,
    prefetch: bool,
) -> Iterator[tuple[MultiviewBatch, torch.Tensor]]:
    """``(batch on device, its augmented views)`` for every batch of ``loader``, in order.

    With ``prefetch``, batch k+1 is loaded (in this thread, so the global RNG -- prompt draws --
    is used by one thread only) before batch k is yielded, and its augmentation runs in a
    background thread while the caller's step on batch k runs: torch ops release the GIL, so on
    CPU the augmentation takes a second core instead of adding to the step. The background
    thread runs the augmentations one after the other in batch order with ``generator``, so the
    draws are those of the synchronous path; the batches are the same too, as long as the step
    itself does not draw from the global RNG (the loading of batch k+1 then comes before, instead
    of after, step k's draws: still reproducible, but a different stream).
    """
    if augment is None or not prefetch:
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
            images = batch.views  # (B, V, 3, H, W) in [0, 1]
            yield batch, images if augment is None else augment(images, generator=generator)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facevlm-augment") as pool:
        pending: tuple[MultiviewBatch, Future[torch.Tensor]] | None = None
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
            future = pool.submit(augment, batch.views, generator=generator)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, future)
        if pending is not None:
            yield pending[0], pending[1].result()

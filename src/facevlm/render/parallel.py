"""Render many scans on all available cores: one process per core, one renderer per process.

Why processes: software OpenGL renders one frame at a time per context and VTK is not
thread-safe, so the way to use several cores is several processes, each holding one
:class:`MultiviewRenderer` built once by the pool initializer and reused for every scan it gets.

Design choices:

- **spawn**, not fork: forking a process that already holds a VTK window or OpenGL context (or
  the threads of llvmpipe) is unsafe; ``spawn`` (default) or ``forkserver`` start clean workers.
  Scripts that use this must guard their entry point with ``if __name__ == "__main__":``.
- **Start-up is separate from work**: :class:`ParallelRenderer` starts its workers, lets each
  build its renderer and render a tiny warm-up mesh (shader compilation), and waits until all are
  ready, so a caller can time or reuse the warm pool. :func:`render_many` is the one-shot helper.
- **llvmpipe threads**: Mesa's software rasteriser starts one thread per core in every process;
  with one process per core that oversubscribes the CPU. Each worker gets
  ``LP_NUM_THREADS = cores // workers`` (at least 1) unless the environment already sets it.
- **Failures are results**: a scan that cannot be read or rendered gives a
  :class:`RenderResult` with ``error`` set (the :class:`ScanError` message) and the pool carries
  on. Only a worker that dies outright (a crash inside VTK) breaks the pool.
- Results come back in job order; with ``output_dir`` the workers write PNGs themselves
  (``<output_dir>/<name>_<view name>.png``) and return no pixels unless asked.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from facevlm.cores import available_cores, one_thread_per_worker, worker_processes
from facevlm.render.backend import check_render_backend
from facevlm.render.face_pose import FacePose
from facevlm.render.settings import RenderSettings
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

if TYPE_CHECKING:  # drawing needs VTK; planning and reading scans here do not
    from facevlm.render.renderer import MultiviewRenderer

#: Seconds to wait for every worker to import VTK, build its renderer and warm up.
STARTUP_TIMEOUT = 300.0

MeshReader = Callable[[Path], FaceMesh]


@dataclass(eq=False)
class RenderJob:
    """One scan to render: a mesh file path or an in-memory mesh, an optional texture, and an
    optional pose (a 4D sequence's frames all use the one pose of their sequence).

    ``name`` names the result and its files; default: the path's stem (or the mesh's source
    stem, or ``scan<index>``). Names may contain ``/`` to write into subfolders.
    """

    source: str | Path | FaceMesh
    name: str | None = None
    texture: np.ndarray | None = None
    pose: FacePose | None = None  # None: as the render settings say (estimate, or as stored)


@dataclass(eq=False)
class RenderResult:
    """What became of one job: images ``(V, H, W, 3)`` and/or written files, or an error."""

    name: str
    images: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def read_mesh_file(path: Path) -> FaceMesh:
    """Default reader: :func:`facevlm.scans.formats.read_mesh`, imported when first needed."""
    try:
        from facevlm.scans.formats import read_mesh
    except ImportError as exc:
        raise ScanError(path, f"no mesh reader available ({exc})") from exc
    return read_mesh(path)


def _default_name(job: RenderJob, index: int) -> str:
    if job.name:
        return job.name
    if isinstance(job.source, FaceMesh):
        return Path(job.source.source).stem if job.source.source else f"scan{index:06d}"
    return Path(job.source).stem


def as_jobs(items: Iterable[RenderJob | str | Path | FaceMesh]) -> list[RenderJob]:
    """Jobs with every name filled in; raises ``ValueError`` on repeated names."""
    jobs = [item if isinstance(item, RenderJob) else RenderJob(item) for item in items]
    named = [
        RenderJob(job.source, _default_name(job, k), job.texture, job.pose)
        for k, job in enumerate(jobs)
    ]
    repeated = sorted(name for name, n in Counter(job.name for job in named).items() if n > 1)
    if repeated:
        raise ValueError(
            f"repeated job names {repeated[:5]}: give RenderJob(name=...) e.g. 'F001/Angry/000'"
        )
    return named


def render_job(
    renderer: MultiviewRenderer,
    job: RenderJob,
    reader: MeshReader = read_mesh_file,
    output_dir: Path | None = None,
    keep_images: bool = True,
) -> RenderResult:
    """Render one named job with ``renderer``; errors become the result's ``error``."""
    assert job.name is not None
    try:
        mesh = job.source if isinstance(job.source, FaceMesh) else reader(Path(job.source))
        images = renderer.render(mesh, job.texture, job.pose)
    except Exception as exc:  # one bad scan must not stop thousands: record and go on
        message = str(exc) if isinstance(exc, ScanError) else f"{type(exc).__name__}: {exc}"
        return RenderResult(job.name, error=message)
    files = []
    if output_dir is not None:
        for view, image in zip(renderer.views, images, strict=True):
            path = Path(output_dir) / f"{job.name}_{view.name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
            files.append(path)
    return RenderResult(job.name, images=images if keep_images else None, files=files)


# ---------------------------------------------------------------- worker side
_worker_renderer: MultiviewRenderer | None = None
_worker_reader: MeshReader = read_mesh_file
_worker_error: str | None = None


def _init_worker(
    settings: RenderSettings, reader: MeshReader, llvmpipe_threads: int, ready: mp.Queue
) -> None:
    """Pool initializer: build this worker's renderer and warm it up; report to ``ready``.

    Never raises (a raising initializer makes the pool respawn or break without a message):
    a failure is reported on ``ready`` and stored for the tasks to return.
    """
    global _worker_renderer, _worker_reader, _worker_error
    os.environ.setdefault("LP_NUM_THREADS", str(llvmpipe_threads))  # before the GL context
    one_thread_per_worker()  # the face pose's BLAS: one process per core already
    _worker_reader = reader
    try:
        from facevlm.render.face_pose import stored_pose
        from facevlm.render.fixtures import checker_texture, face_like_mesh
        from facevlm.render.renderer import MultiviewRenderer

        _worker_renderer = MultiviewRenderer(settings)
        warm = face_like_mesh(n_side=6)  # no face: drawn in its own axes, not refused
        _worker_renderer.render(warm, checker_texture(16, 2), stored_pose(warm.vertices))
    except Exception as exc:
        _worker_error = f"render worker failed to start: {type(exc).__name__}: {exc}"
    ready.put((os.getpid(), _worker_error))


def _ping() -> int:
    return os.getpid()


def _work(task: tuple[RenderJob, Path | None, bool]) -> RenderResult:
    job, output_dir, keep = task
    if _worker_renderer is None:
        return RenderResult(job.name or "?", error=_worker_error or "render worker not started")
    return render_job(_worker_renderer, job, _worker_reader, output_dir, keep)


# ---------------------------------------------------------------- parent side
class ParallelRenderer:
    """A warm pool of render workers; use as a context manager.

    >>> with ParallelRenderer(RenderSettings(), n_workers=2) as pool:  # doctest: +SKIP
    ...     results = pool.render(["a.wrl", "b.wrl"], output_dir="renders")

    Args:
        settings: render settings shared by all workers.
        n_workers: worker processes; default :func:`available_cores`.
        reader: ``path -> FaceMesh`` for path jobs; must be picklable (a module-level function).
        start_method: ``spawn`` (default) or ``forkserver``; ``fork`` is refused.
    """

    def __init__(
        self,
        settings: RenderSettings | None = None,
        n_workers: int | None = None,
        reader: MeshReader = read_mesh_file,
        start_method: str = "spawn",
    ) -> None:
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(f"start_method must be 'spawn' or 'forkserver', got {start_method!r}")
        self.settings = settings or RenderSettings()
        self.n_workers = worker_processes(n_workers)
        if self.n_workers < 1:
            raise ValueError(f"n_workers must be at least 1, got {n_workers}")
        self.reader = reader
        self.start_method = start_method
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> ParallelRenderer:
        """Start every worker and wait until each has built and warmed up its renderer."""
        if self._executor is not None:
            return self
        check_render_backend()  # fail here, clearly, rather than in every worker
        context = mp.get_context(self.start_method)
        ready = context.Queue()
        threads = max(1, available_cores() // self.n_workers)
        self._executor = ProcessPoolExecutor(
            max_workers=self.n_workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.settings, self.reader, threads, ready),
        )
        # each submit while no worker is idle starts one more worker, up to n_workers
        pings = [self._executor.submit(_ping) for _ in range(self.n_workers)]
        errors: list[str] = []
        n_ready, deadline = 0, time.monotonic() + STARTUP_TIMEOUT
        while n_ready < self.n_workers and not errors:
            try:
                _, error = ready.get(timeout=1.0)
                n_ready += 1
                if error:
                    errors.append(error)
            except Empty:
                crashed = [p.exception() for p in pings if p.done() and p.exception()]
                if crashed:  # a worker died before reporting (killed, or VTK crashed)
                    errors.append(f"render worker died while starting: {crashed[0]!r}")
                elif time.monotonic() > deadline:
                    errors.append(f"render workers not ready after {STARTUP_TIMEOUT:.0f} s")
        if errors:
            self.close()
            raise RuntimeError(errors[0])
        for ping in pings:
            ping.result()
        return self

    def render(
        self,
        jobs: Iterable[RenderJob | str | Path | FaceMesh],
        output_dir: str | Path | None = None,
        keep_images: bool | None = None,
        progress: bool = True,
        chunksize: int = 1,
    ) -> list[RenderResult]:
        """Render ``jobs`` in order; see :func:`render_many` for the arguments."""
        self.start()
        assert self._executor is not None
        named = as_jobs(jobs)
        keep = output_dir is None if keep_images is None else keep_images
        out = None if output_dir is None else Path(output_dir)
        tasks = [(job, out, keep) for job in named]
        results = self._executor.map(_work, tasks, chunksize=chunksize)
        bar = tqdm(results, total=len(tasks), desc="render", unit="scan", disable=not progress)
        try:
            return list(bar)
        except BrokenProcessPool as exc:
            self.close()
            raise RuntimeError(
                "a render worker died (a crash inside VTK/OpenGL, or killed for memory); "
                "render the remaining jobs with a new pool, or sequentially to find the culprit"
            ) from exc

    def close(self) -> None:
        """Stop the workers."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> ParallelRenderer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def render_many(
    jobs: Sequence[RenderJob | str | Path | FaceMesh],
    settings: RenderSettings | None = None,
    n_workers: int | None = None,
    output_dir: str | Path | None = None,
    keep_images: bool | None = None,
    progress: bool = True,
    reader: MeshReader = read_mesh_file,
) -> list[RenderResult]:
    """Render ``jobs`` over ``n_workers`` processes (default: all available cores).

    Args:
        jobs: paths, meshes or :class:`RenderJob`; names must be unique.
        settings: render settings (default :class:`RenderSettings`).
        n_workers: worker processes.
        output_dir: write ``<output_dir>/<name>_<view>.png`` for every view when given.
        keep_images: return the pixels too (default: only when nothing is written).
        progress: show a tqdm progress bar.
        reader: ``path -> FaceMesh`` for path jobs (default ``facevlm.scans.formats.read_mesh``).

    Returns:
        One :class:`RenderResult` per job, in job order; failed scans have ``error`` set.
    """
    with ParallelRenderer(settings, n_workers, reader) as pool:
        return pool.render(jobs, output_dir, keep_images, progress)

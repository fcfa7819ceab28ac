"""The parallel renderer's reference: the same jobs rendered in this process, one renderer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from facevlm.render.parallel import (
    MeshReader,
    RenderJob,
    RenderResult,
    as_jobs,
    read_mesh_file,
    render_job,
)
from facevlm.render.renderer import MultiviewRenderer, RenderSettings
from facevlm.scans.mesh import FaceMesh


def render_sequential(
    jobs: Iterable[RenderJob | str | Path | FaceMesh],
    settings: RenderSettings | None = None,
    reader: MeshReader = read_mesh_file,
    output_dir: str | Path | None = None,
    keep_images: bool | None = None,
    progress: bool = False,
) -> list[RenderResult]:
    """The same as :class:`ParallelRenderer` in this process: one renderer, no pool."""
    named = as_jobs(jobs)
    keep = output_dir is None if keep_images is None else keep_images
    out = None if output_dir is None else Path(output_dir)
    with MultiviewRenderer(settings) as renderer:
        return [
            render_job(renderer, job, reader, out, keep)
            for job in tqdm(named, desc="render", unit="scan", disable=not progress)
        ]

"""The process pool: same images as one process, in order, with failures recorded not raised."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from sequential_render import render_sequential

from facevlm.cores import available_cores
from facevlm.render.fixtures import checker_texture, face_like_mesh, read_mesh_npz, save_mesh_npz
from facevlm.render.parallel import ParallelRenderer, RenderJob, as_jobs
from facevlm.render.renderer import RenderSettings

SETTINGS = RenderSettings(size=48, views=[[0, 0], [25, 0]])


def crashing_reader(path):
    """A reader that kills its worker outright, as a segfault inside VTK would."""
    os._exit(1)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[RenderJob]:
    """Mixed jobs: in-memory meshes, saved meshes read by the workers, and two bad scans."""
    folder = tmp_path_factory.mktemp("scans")
    texture = checker_texture(64, squares=4)
    meshes = [face_like_mesh(n_side=24, nose_offset=(8.0 * k, 0.0)) for k in range(4)]
    items = [RenderJob(mesh, f"memory/{k}", texture) for k, mesh in enumerate(meshes)]
    items += [
        RenderJob(save_mesh_npz(m, folder / f"file{k}.npz", texture)) for k, m in enumerate(meshes)
    ]
    broken = dataclasses.replace(meshes[0], vertices=meshes[0].vertices * np.nan)
    items.insert(3, RenderJob(broken, "broken"))
    items.insert(6, RenderJob(folder / "missing.npz"))
    return items


@pytest.fixture(scope="module")
def pool():
    with ParallelRenderer(SETTINGS, n_workers=2, reader=read_mesh_npz) as running:
        yield running


def test_parallel_results_equal_sequential_results_in_job_order(pool, jobs):
    parallel = pool.render(jobs, progress=False)
    sequential = render_sequential(jobs, SETTINGS, reader=read_mesh_npz)
    assert (
        [r.name for r in parallel]
        == [r.name for r in sequential]
        == [j.name for j in as_jobs(jobs)]
    )
    for mine, theirs in zip(parallel, sequential, strict=True):
        assert mine.error == theirs.error
        if mine.ok:
            assert mine.images.shape == (2, 48, 48, 3)
            np.testing.assert_array_equal(mine.images, theirs.images)
    by_name = {r.name: r for r in parallel}  # the same scan from memory and from a file:
    np.testing.assert_array_equal(by_name["memory/0"].images, by_name["file0"].images)


def test_failed_scans_are_recorded_and_the_rest_still_render(pool, jobs):
    results = {r.name: r for r in pool.render(jobs, progress=False)}
    assert "NaN" in results["broken"].error and results["broken"].images is None
    assert "missing.npz" in results["missing"].error
    assert sum(r.ok for r in results.values()) == 8


def test_workers_write_one_png_per_view(pool, jobs, tmp_path):
    results = pool.render(jobs[:2], output_dir=tmp_path, progress=False)
    assert all(r.images is None for r in results)  # written, not returned, by default
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert names == [
        "memory/0_yaw+0_pitch+0.png",
        "memory/0_yaw+25_pitch+0.png",
        "memory/1_yaw+0_pitch+0.png",
        "memory/1_yaw+25_pitch+0.png",
    ]
    assert results[0].files[0] == tmp_path / names[0]


def test_the_pool_uses_separate_worker_processes(pool):
    from facevlm.render.parallel import _ping

    pids = {pool._executor.submit(_ping).result() for _ in range(20)}
    assert os.getpid() not in pids


def test_repeated_names_are_refused_before_any_work():
    mesh = face_like_mesh(n_side=8)
    with pytest.raises(ValueError, match="repeated"):
        as_jobs([RenderJob(mesh, "a"), RenderJob(mesh, "a")])
    with pytest.raises(ValueError, match="repeated"):
        as_jobs(["x/000.wrl", "y/000.wrl"])  # BU-4DFE frames share stems: name them


def test_default_names_and_worker_count():
    assert [j.name for j in as_jobs(["a/F0001_AN01WH_F3D.wrl", face_like_mesh(n_side=8)])] == [
        "F0001_AN01WH_F3D",
        "scan000001",
    ]
    assert available_cores() == len(os.sched_getaffinity(0))
    assert ParallelRenderer().n_workers == available_cores()


def test_unsafe_or_empty_pools_are_refused():
    with pytest.raises(ValueError, match="fork"):
        ParallelRenderer(start_method="fork")
    with pytest.raises(ValueError):
        ParallelRenderer(n_workers=-1)


def test_a_dying_worker_is_a_clear_error_not_a_hang():
    pool = ParallelRenderer(SETTINGS, n_workers=1, reader=crashing_reader).start()
    with pytest.raises(RuntimeError, match="worker died"):
        pool.render(["scan.wrl"], progress=False)
    assert pool._executor is None, "the broken pool is closed"

"""Fixtures every test folder may use.

- No test downloads weights: the hub is switched off before open_clip is imported.
- ``one_thread``: one intra-op torch thread (on a shared 2-core machine the default two threads
  spin-wait and are several times slower).
- ``tiny_synthetic`` / ``tiny_params``: the smallest synthetic set and data-stage parameters
  that run the real pipelines in a temporary folder within seconds.
- ``tiny_tokenizer``, ``make_tiny_model``, ``toy_views``: the tiny random-init open_clip
  backbone and a toy dataset whose classes a model can learn (the model and trainer tests).
- ``mlflow_tracking``: a fresh SQLite MLflow store that MLflow's global state points at;
  ``new_mlflow_store``: makes one at a path (the ``mlruns.db`` that a project's Kedro sessions
  track into).

The inputs the tests share with the benchmark scripts (scan files written by hand the way
scanners write them, hostile files, faces in known poses: ``benchmarks/_*.py``) live once, in
``benchmarks/``, which is put on ``sys.path`` here: a benchmark script must run without the test
tree, and one copy of each generator means the tests check the cases the figures were measured
on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

# no garbage collection while the libraries load and the tests are collected: their objects all
# live as long as the process, and the collector would walk them over and over as they
# accumulate (a third of a worker's collecting time); see _out_of_the_collectors_reach
gc.disable()
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub import
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # see the docstring

# the libraries' numerical path pinned before they load, as the commands that start a run pin
# it (facevlm/numerics.py): the tests' own process computes as the Kedro runs and the
# subprocesses it starts do
from facevlm.numerics import pin_process  # noqa: E402  isort: skip

pin_process()

import pytest  # noqa: E402

# torch, numpy and MLflow are imported where they are used: the xdist controller, which runs no
# test, imports this file too, and the workers start only once it has (2 s sooner without them)


def _share_the_cores_between_test_processes() -> None:
    """Give each pytest-xdist worker its share of the cores, as torch and BLAS threads and as
    the OpenMP/MKL threads that its subprocesses (Kedro runs, torchrun workers) inherit.

    Two workers on two cores each spinning up torch's default two intra-op threads make four
    threads that spin-wait for each other: a training step then runs many times slower than on
    one thread, and the suite's wall time doubles whenever two training tests overlap. BLAS
    threads are worse still: a small LAPACK call (scipy's Delaunay transforms, the face pose's
    SVDs) that hands work to a second thread waits for it to be scheduled on a core the other
    worker keeps busy, and takes seconds instead of a millisecond.
    """
    import torch
    from threadpoolctl import threadpool_limits

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // workers)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    threads = int(os.environ["OMP_NUM_THREADS"])
    os.environ.setdefault("FACEVLM_THREADS", str(threads))  # what a Kedro session pins
    # a Kedro run's CPU training stays in its process: the suite's processes fill the cores
    os.environ.setdefault("FACEVLM_CPU_PROCESSES", "1")
    torch.set_num_threads(threads)
    # numpy's BLAS was loaded (with torch, above) before the variables were set: limit it too
    threadpool_limits(limits=threads)


def pytest_configure(config) -> None:
    # pytest-xdist's controller runs no test, and its workers inherit its environment: were it
    # to set the variables for itself (every core), each worker would keep them and take every
    # core too. Workers know their count (PYTEST_XDIST_WORKER_COUNT); without xdist (-n0) the
    # one process takes every core.
    controller = os.environ.get("PYTEST_XDIST_WORKER") is None
    if controller and config.getoption("dist", "no") != "no":
        _out_of_the_collectors_reach()  # it collects no tests: what it holds is all imported
        return
    _share_the_cores_between_test_processes()


#: The costliest test modules, costliest first (CPU seconds of each module's tests with their
#: subprocesses, measured on a shared 2-core machine with -n auto): they are started before the
#: rest. pytest-xdist's worksteal gives each worker a half of the list and lets an idle worker
#: take the end of the other's queue; a long test near the end of a queue leaves the other core
#: idle until it ends, while short tests at the end even the two workers out. The users of the
#: shared tiny run (tests/pipelines/conftest.py) follow the test that builds it, on its worker.
#: The order is only a schedule: a module missing here runs in collection order after these.
START_FIRST = (
    "pipelines/test_browse_a_run.py",  # ~136 s, the shared tiny run's ~100 s among them
    "pipelines/test_report_pipeline.py",
    "pipelines/test_session_smoke.py",
    "pipelines/test_training_scale_out.py",  # ~108 s
    "runner/test_torchrun.py",  # ~85 s
    "inference/test_predict_command.py",  # ~75 s
    "runner/test_paper_configs.py",  # ~69 s
    "app/test_app_page.py",  # ~62 s
    "inference/test_loading.py",  # ~49 s
    "render/test_face_pose.py",  # ~40 s
    "app/test_app_browser.py",  # ~38 s
    "pipelines/test_training_pipelines.py",  # ~37 s
    "pipelines/test_data_pipelines.py",  # ~37 s
    "pipelines/test_ingest_face_pose.py",  # ~28 s
    "test_commands.py",  # ~28 s
    "trainer/test_training_ddp.py",  # ~24 s
    "synthetic/test_synthetic_writer.py",  # ~20 s
)


@pytest.hookimpl(trylast=True)  # after pytest's own ordering by fixture
def pytest_collection_modifyitems(items) -> None:
    """Start the modules of :data:`START_FIRST` first, in its order; a stable sort keeps the
    order of the tests within each module, and of every other module."""
    rank = {f"tests/{module}": i for i, module in enumerate(START_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session) -> None:
    _out_of_the_collectors_reach()


def _out_of_the_collectors_reach() -> None:
    """Set what a test process holds once it has collected out of the garbage collector's
    reach (``gc.freeze``), and collect garbage from then on (the collector was off until now).

    The libraries it imported (torch, MLflow, Kedro, VTK, Streamlit...) and the collected tests
    are some 850,000 objects that live as long as the process, and every full collection that
    Python runs while a test allocates would walk them all again: about a tenth of the CPU time
    of the tests that run in the test process. Objects that the tests make are collected as
    before."""
    gc.collect()  # what importing and collecting left behind is freed, not kept for good
    gc.freeze()
    gc.enable()


#: Smallest synthetic set that still exercises every layout (2 micro subjects for LOSO).
TINY_SYNTHETIC = {
    "seed": 0,
    "n_subjects": 3,
    "n_subjects_4d": 1,
    "n_frames": 6,
    "n_bosphorus": 1,
    "n_bp4d_subjects": 1,
    "n_micro_subjects": 2,
    "clips_per_subject": 2,
    "clip_frames": 6,
    "resolution": 1500,
    "resolution_4d": 800,
    "texture_size": 128,
    "texture_size_4d": 64,
    # one face source and clean meshes keep the many small sets fast; the shared end-to-end
    # project (tests/pipelines/conftest.py) and the synthetic-set tests cover the others.
    # Parameters merge into conf/base, so each knob is switched off explicitly.
    "face_sources": ["procedural"],
    "scanner_variety": {
        "density": [1.0, 1.0],
        "smoothing": [0, 0],
        "noise_mm": [0.0, 0.0],
        "holes": 0.0,
        "ragged_border_mm": [0.0, 0.0],
        "units": ["mm"],
    },
}


@pytest.fixture
def tiny_synthetic() -> dict:
    return dict(TINY_SYNTHETIC)


@pytest.fixture(scope="session")
def tiny_synthetic_session() -> dict:
    """:data:`TINY_SYNTHETIC` for session-scoped fixtures (copy before changing it)."""
    return TINY_SYNTHETIC


@pytest.fixture
def tiny_params(tmp_path):
    """Parameters of the data pipelines for a tiny synthetic set under ``tmp_path``."""
    return {
        "dataset": {
            "name": "synthetic",
            "root": str(tmp_path / "raw" / "synthetic"),
            "fail_fast": False,
            "allow_missing_texture": False,
            "n_workers": 1,
            "options": {},
        },
        "synthetic": dict(TINY_SYNTHETIC),
        "contact_sheet": {"n_subjects": 2, "size": 64},
        "render": {
            "size": 64,
            "views": [[0, 0], [20, 0], [-20, 0]],
            "modality": "texture",
            "frames": "uniform:2",
            "n_workers": 1,
            "datasets": None,
        },
        "protocol": {
            "name": "subject_kfold",
            "k": 2,
            "seed": 0,
            "subset": "all",
            "datasets": ["synthetic-bu3dfe"],
        },
        "caches": {
            "scan_index": str(tmp_path / "cache" / "scan_index"),
            "renders": str(tmp_path / "cache" / "renders"),
            "pretraining": str(tmp_path / "cache" / "pretraining"),
        },
    }


@pytest.fixture(autouse=True)
def _keep_the_main_module():
    """Streamlit's AppTest runs the page as ``__main__`` and leaves it in ``sys.modules``; a
    later test that spawns processes (synthetic writer, scan index, renderer) would make every
    child re-run the page instead of pytest's main. Each test gets the real one back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def one_thread():
    """Run on one intra-op thread (see the module docstring)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def new_mlflow_store(tmp_path_factory) -> Callable[[Path], Path]:
    """Makes a new MLflow SQLite store at a path, as MLflow makes one from the folder that holds
    it (its tables and the Default experiment, whose artifacts go to ``<folder>/mlruns/0``): a
    copy of one made once. MLflow finds the copy's schema current and skips the migrations it
    runs on a new file, which take about 2.5 s of CPU and 10 s of disk syncs on a busy 2-core
    machine, for every store."""
    import mlflow

    empty = tmp_path_factory.mktemp("mlflow_store") / "mlruns.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{empty}").search_experiments()

    def new_store(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(empty, path)
        with contextlib.closing(sqlite3.connect(path)) as store, store:
            store.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                (str(path.parent.resolve() / "mlruns" / "0"),),
            )
        return path

    return new_store


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory, new_mlflow_store) -> Path:
    """The tiny real project of the inference and app tests (``tests/inference/tiny_project.py``),
    made once per test process for both folders: its tests only read it, or work on a copy."""
    folder = str(Path(__file__).parent / "inference")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    from tiny_project import make_tiny_project

    return make_tiny_project(tmp_path_factory.mktemp("project"), new_mlflow_store)


@pytest.fixture
def mlflow_tracking(tmp_path, monkeypatch, new_mlflow_store):
    """A fresh SQLite tracking store; MLflow's global state points at it and stays there."""
    import mlflow

    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts under ./mlruns by default
    uri = f"sqlite:///{new_mlflow_store(tmp_path / 'mlruns.db')}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("facevlm-test")  # forget an experiment id from an earlier store
    yield uri
    while mlflow.active_run():  # kedro-mlflow can leave its session run on the stack
        mlflow.end_run()


# The tiny model and toy views of the model and trainer tests.

TINY = "facevlm-tiny"
TINY_SIZE = 64  # image_size of facevlm-tiny


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from facevlm.models.backbone import get_tokenizer  # registers facevlm-tiny on first use

    return get_tokenizer(TINY)


@pytest.fixture
def make_tiny_model():
    """Factory: a fresh random-init facevlm-tiny MultiviewCLIP, identical for equal seeds."""
    import torch

    from facevlm.models.backbone import BackboneConfig
    from facevlm.models.multiview_clip import MultiviewCLIPConfig, build_multiview_clip

    def make(seed: int = 0, fusion: str = "learned", n_views: int = 3, **backbone):
        torch.manual_seed(seed)
        cfg = MultiviewCLIPConfig(
            backbone=BackboneConfig(name=TINY, pretrained=None, **backbone),
            fusion=fusion,
            n_views=n_views,
        )
        model, _ = build_multiview_clip(cfg)
        return model

    return make


@pytest.fixture
def toy_views():
    """Factory ``toy_views(n_per_class, n_views=3, size=64, seed=0) -> (views, labels)``."""
    return _toy_views


def _toy_views(n_per_class: int, n_views: int = 3, size: int = TINY_SIZE, seed: int = 0):
    """uint8 views (N, V, S, S, 3) whose colour/stripe pattern depends on the class, + labels."""
    import numpy as np

    from facevlm.scans.labels import BASIC_EMOTIONS

    rng = np.random.default_rng(seed)
    n_classes = len(BASIC_EMOTIONS)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((len(labels), n_views, size, size, 3), dtype=np.uint8)
    for i, c in enumerate(labels):
        colour = np.array([(c % 3) / 2, (c // 3), 0.5])  # class colour
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (c + 1) * (xx + yy))  # class frequency
        for v in range(n_views):
            img = colour * stripes[..., None] + 0.15 * rng.standard_normal((size, size, 3))
            images[i, v] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return images, labels

"""How long a `kedro run` started again after a kill takes, against a whole run.

A small configuration in a project of its own under WORK: ``kedro run --pipeline=pretrain``
(the backbone of a pretraining recipe of its own: the shipped one is another recipe) and then
``kedro run --pipeline=train_smile`` (SMILE-VLM's cross-validation and final fit on it). A
warm-up makes the data stages' caches, then

1. the whole of both, timed;
2. ``pretrain`` killed (SIGKILL of its process group) two epochs after the pretraining's middle
   checkpoint, and the same command again, timed: pretraining continues from its checkpoint;
3. ``train_smile`` killed half an epoch into the middle fold's middle epoch, and the same command
   again, timed: the finished folds are read back, the killed one continues.

The last rerun must end with the whole run's metrics (with the backbone the resumed pretraining
made). Without resuming, a rerun would take as long as the whole run. Prints one line per run
and a JSON summary::

    python benchmarks/resume_after_kill.py /tmp/resume-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = Path("data/06_models/training_runs")
PRETRAIN_CACHE = Path("data/02_intermediate/pretrain_cache")
STORE = Path("pretrained")  # the backbones by recipe (pretraining.store)
SUMMARY = Path("data/08_reporting/smile/summary.json")


def small_config(project: Path, pretrain_epochs: int, epochs: int, folds: int) -> dict:
    """A few synthetic subjects of one face source (the data stages otherwise as configured)
    at 64 px, the tiny backbone, short schedules."""
    one_source = {"face_sources": ["procedural"]}
    return {
        "dataset": {"root": str(project / "data/01_raw/synthetic"), "n_workers": 1},
        "synthetic": {"seed": 0, "n_subjects": 4, "layouts": ["bu3dfe"], **one_source},
        "render": {"size": 64, "n_workers": 1},
        "pretraining": {
            "dataset": {"root": str(project / "data/01_raw/synthetic_pretraining")},
            "synthetic": {"n_subjects": 3, **one_source},
            "training": {
                "holdout_subjects": 1,
                "train": {"epochs": pretrain_epochs, "batch_size": 32},
                "execution": {"progress": False, "device": "cpu"},
            },
        },
        "smile": {
            "protocol": {"k": folds},
            "experiment": {
                "data": {"max_folds": None},
                "train": {"epochs": epochs, "batch_size": 16},
                # a checkpoint every epoch, so that there is one to resume from mid-fold
                "execution": {"progress": False, "device": "cpu", "checkpoint_every": 1},
            },
        },
    }


def kedro_run(project: Path, log: Path, pipeline: str, params: str = "") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "kedro", "run", f"--pipeline={pipeline}"]
    if params:
        cmd.append(f"--params={params}")
    # one torch/BLAS thread: on a shared machine two threads spin-waiting for each other make
    # every step several times slower and the timings noise
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    with log.open("w") as out:
        return subprocess.Popen(
            cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def finish(run: subprocess.Popen, log: Path) -> None:
    if run.wait() != 0:
        raise SystemExit(f"run failed, see {log}:\n{log.read_text()[-3000:]}")


def kill_when(run: subprocess.Popen, ready: Callable[[], float | None]) -> None:
    """SIGKILL the run's process group ``ready()`` seconds after it first returns a number."""
    while (delay := ready()) is None:
        if run.poll() is not None:
            raise SystemExit("the run ended before it was killed: a larger configuration")
        time.sleep(0.05)
    time.sleep(delay)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()


def metrics(project: Path) -> dict[str, float]:
    newest = sorted(p for p in (project / SUMMARY).iterdir())[-1] / "summary.json"
    values = json.loads(newest.read_text())["metrics"]
    return {k: v for k, v in values.items() if "time_s" not in k}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="a folder for the project (replaced)")
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--folds", type=int, default=2)
    args = parser.parse_args()
    project = args.work.resolve()
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf/local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / "src").mkdir()
    config = small_config(project, args.pretrain_epochs, args.epochs, args.folds)
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump(config))
    logs = project / "logs"
    logs.mkdir()
    times: dict[str, float] = {}

    def timed(
        name: str, pipeline: str, params: str = "", kill: Callable[[], float | None] | None = None
    ) -> None:
        t0 = time.perf_counter()
        run = kedro_run(project, logs / f"{name}.log", pipeline, params)
        if kill is None:
            finish(run, logs / f"{name}.log")
        else:
            kill_when(run, kill)
        times[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {times[name]} s", flush=True)

    def made_since(folder: Path, since: float) -> list[Path]:
        return [p for p in folder.glob("*") if p.is_file() and p.stat().st_mtime > since]

    one_epoch = "pretraining.training.train.epochs=1,smile.experiment.train.epochs=1"
    timed("warm_up_pretraining", "pretrain", one_epoch)
    timed("warm_up_training", "train_smile", one_epoch)
    shutil.rmtree(project / RUNS)
    warm_end = time.time()
    timed("whole_pretraining", "pretrain")
    timed("whole_training", "train_smile")
    expected = metrics(project)

    # what the whole run left, gone: a run started from nothing (the warm-up's caches stay)
    shutil.rmtree(project / RUNS, ignore_errors=True)
    for path in made_since(project / PRETRAIN_CACHE, warm_end) + made_since(
        project / STORE, warm_end
    ):
        path.unlink()
    middle = args.pretrain_epochs // 2 // 5 * 5  # checkpoints every 5 epochs

    def pretraining_middle() -> float | None:
        """Two epochs after the middle checkpoint (an epoch's time: from the run folder's
        identity file, written as training starts, to that checkpoint)."""
        found = sorted((project / PRETRAIN_CACHE).glob("*.checkpoints/epoch_*.pt"))
        reached = [p for p in found if int(p.stem.split("_")[1]) >= middle]
        if not reached:
            return None
        started = (reached[0].parent / "identity.json").stat().st_mtime
        per_epoch = (reached[0].stat().st_mtime - started) / int(reached[0].stem.split("_")[1])
        return 2 * per_epoch

    timed("killed_in_pretraining", "pretrain", kill=pretraining_middle)
    timed("rerun_after_pretraining_kill", "pretrain")

    fold, epoch = args.folds // 2, max(1, args.epochs // 2)
    fold_start = time.time()

    def fold_middle() -> float | None:
        """Half an epoch after the middle fold's middle epoch checkpoint (the earlier folds keep
        only their last epoch's: ``keep_checkpoints: 1``)."""
        results = sorted((project / RUNS).glob("smile-*/training/fold_*/result.pkl"))
        if len(results) < fold:
            return None
        name = f"smile-*/training/fold_*/checkpoints/epoch_{epoch:04d}.pt"
        current = list((project / RUNS).glob(name))
        if not current:
            return None
        last_fold_end = max(p.stat().st_mtime for p in results) if results else fold_start
        return 0.5 * (current[0].stat().st_mtime - last_fold_end) / epoch

    timed("killed_in_fold", "train_smile", kill=fold_middle)
    timed("rerun_after_fold_kill", "train_smile")
    assert metrics(project) == expected, "the rerun's metrics differ"
    print(json.dumps({"config": vars(args) | {"work": str(project)}, "seconds": times}))


if __name__ == "__main__":
    main()

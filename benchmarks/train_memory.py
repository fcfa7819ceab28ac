"""Peak memory (RSS) of one training epoch: the built-in render set against one 20x larger.

Why: training used to hold every decoded view of the render set in RAM, so memory grew with the
dataset. Views now stay in the render set's ``views.npy`` (resized once into
``views_<S>px.npy``) and each batch reads only its own rows (:mod:`facevlm.scans.view_store`).
Goal: **peak RSS of the 20x set < 1.5 x that of the built-in set**.

What it runs, each in a fresh process (so ``ru_maxrss`` is that run's own peak): the real code
path of the pipeline's training node -- ``experiment_data`` (join with the fold table, class
filter, resize to the model's 64 px, lazily) then ``affectvlm.fit`` on fold 0's training rows
for ``--epochs`` epochs (``facevlm-tiny``, random init, the base config's batch size, no
evaluation) -- for:

- **built-in**: the latest render set of ``kedro run --pipeline=data`` (``data/04_feature/
  renders``), with the protocol's fold table (``data/05_model_input/fold_table.csv``);
- **x20**: the same renders replicated 20 times (each copy a new subject, so the folds grow too),
  written once as a render set of its own under ``--work`` (``views.npy`` only: training does
  not read PNGs), reused by later runs;

each in two modes: **streamed** (the project: views read per batch) and **in RAM** (the same
64 px views loaded into one array first, as main did after its resize -- main actually peaked
higher, holding the 224 px renders before resizing them).

Run from the repository root after ``kedro run --pipeline=data``::

    python benchmarks/train_memory.py [--factor 20] [--epochs 1] [--threads 1] [--work DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub import

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def latest(pattern: str) -> Path:
    found = sorted(ROOT.glob(pattern))
    if not found:
        raise SystemExit(f"nothing matches {pattern}: run `kedro run --pipeline=data` first")
    return found[-1]


def builtin_set() -> tuple[Path, Path]:
    return latest("data/04_feature/renders/*/renders"), latest(
        "data/05_model_input/fold_table.csv/*/fold_table.csv"
    )


def replicated_set(source: Path, fold_csv: Path, factor: int, work: Path) -> tuple[Path, Path]:
    """``factor`` copies of the render set (views.npy, samples, settings) and of its folds."""
    from facevlm.datasets.render_set import VIEWS_FILE, RenderSet
    from facevlm.scans.view_store import is_complete_store, write_view_store

    folder = work / f"renders_x{factor}"
    folds_out = work / f"fold_table_x{factor}.csv"
    samples = pd.read_parquet(source / "samples.parquet")
    settings = json.loads((source / "settings.json").read_text())
    if is_complete_store(folder / VIEWS_FILE) and folds_out.exists():
        return folder, folds_out
    views = RenderSet(samples, settings["view_names"], folder=source).view_array()
    folds = pd.read_csv(fold_csv)
    copies, fold_copies = [], []
    for k in range(factor):
        copy = samples.copy()
        copy["sample_id"] = copy["sample_id"] + f"#copy{k}"
        copy["subject"] = copy["subject"].astype(str) + f"#copy{k}"
        copy["frame_paths"] = copy["frame_paths"].map(lambda p, k=k: [f"{x}#copy{k}" for x in p])
        copies.append(copy)
        fc = folds.copy()
        fc["path"] = fc["path"].astype(str) + f"#copy{k}"
        fold_copies.append(fc)
    n, v, h, w, _ = views.shape

    def rows():
        for _ in range(factor):
            for start in range(0, n, 64):
                yield views.take(np.arange(start, min(start + 64, n)))

    folder.mkdir(parents=True, exist_ok=True)
    write_view_store(folder / VIEWS_FILE, rows(), n * factor, v, (h, w))
    pd.concat(copies, ignore_index=True).to_parquet(folder / "samples.parquet", index=False)
    (folder / "settings.json").write_text(json.dumps(settings))
    pd.concat(fold_copies, ignore_index=True).to_csv(folds_out, index=False)
    return folder, folds_out


def child(folder: Path, fold_csv: Path, mode: str, epochs: int, threads: int) -> dict:
    """One measured run (in its own process)."""
    import torch

    from facevlm.datasets.render_set import RenderSet
    from facevlm.experiments.affectvlm import AffectVLMConfig, fit
    from facevlm.experiments.experiment_data import ExperimentData, experiment_data
    from facevlm.prompts.augmented import plain_label_bank

    torch.set_num_threads(threads)
    samples = pd.read_parquet(folder / "samples.parquet")
    settings = json.loads((folder / "settings.json").read_text())
    render_set = RenderSet(samples, settings.pop("view_names"), settings, folder=folder)
    cfg = AffectVLMConfig.from_params(
        {
            "model": {"backbone": {"name": "facevlm-tiny", "pretrained": None}},
            "augment": None,
            "train": {"epochs": epochs, "batch_size": 16},
            "execution": {"progress": False, "device": "cpu"},
        }
    )
    t0 = time.perf_counter()
    data = experiment_data(render_set, pd.read_csv(fold_csv), cfg.data.classes, 64)
    prepare_s = time.perf_counter() - t0
    if mode == "in_ram":
        data = ExperimentData(np.asarray(data.views), data.labels, data.samples, data.classes)
    train_rows, _ = data.split(data.folds[0])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    fitted = fit(data, train_rows, plain_label_bank(cfg.data.classes), cfg)
    train_s = time.perf_counter() - t0
    return {
        "samples": len(data.labels),
        "train_samples": len(train_rows),
        "prepare_s": round(prepare_s, 1),
        "epoch_s": round(train_s / epochs, 1),
        "loss": round(fitted.history[-1]["loss"], 4),
        "rss_before_training_mb": round(rss_before),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=int, default=20, help="size of the large set (copies)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per run")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--work", default=str(ROOT / "data/05_model_input/benchmark_train_memory"))
    parser.add_argument("--modes", default="streamed,in_ram", help="comma-separated modes")
    parser.add_argument(
        "--child", nargs=3, metavar=("FOLDER", "FOLDS", "MODE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, folds, mode = args.child
        print(json.dumps(child(Path(folder), Path(folds), mode, args.epochs, args.threads)))
        return

    renders, folds = builtin_set()
    if args.prepare:
        large = replicated_set(renders, folds, args.factor, Path(args.work))
        print(json.dumps([str(p) for p in large]))
        return

    # this process only orchestrates: it imports no torch and holds no views, since a child's
    # peak RSS on Linux starts from its parent's RSS at the fork
    src = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": src}
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--prepare", "--factor", str(args.factor), "--work", args.work]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"preparing the x{args.factor} set failed:\n{done.stderr[-3000:]}")
    large_folder, large_folds = json.loads(done.stdout.strip().splitlines()[-1])
    sets = {
        "built-in": (renders, folds),
        f"x{args.factor}": (Path(large_folder), Path(large_folds)),
    }
    print(
        f"# sets ready in {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}"
    )
    results = {}
    for mode in args.modes.split(","):
        for name, (folder, fold_csv) in sets.items():
            cmd = [sys.executable, __file__, "--epochs", str(args.epochs), "--threads",
                   str(args.threads), "--child", str(folder), str(fold_csv), mode]  # fmt: skip
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{name} {mode} failed:\n{done.stderr[-3000:]}")
            results[(mode, name)] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{mode:9s} {name:9s} {json.dumps(results[(mode, name)])}", flush=True)
    print("\n| mode | set | samples | train samples | s / epoch | peak RSS MB | x20 / built-in |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for mode in args.modes.split(","):
        small = results[(mode, "built-in")]["peak_rss_mb"]
        for name in sets:
            r = results[(mode, name)]
            ratio = r["peak_rss_mb"] / small
            print(f"| {mode} | {name} | {r['samples']} | {r['train_samples']} | {r['epoch_s']} | "
                  f"{r['peak_rss_mb']} | {ratio:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()

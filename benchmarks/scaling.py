"""Training over processes and over the data's size: throughput with 1 and 2 processes (DDP,
gloo) on CPU, folds side by side, GPU figures when CUDA exists, and memory as the set grows.

Why: ``python -m facevlm.train`` / ``facevlm.runner.launch`` train one model on several
processes with DistributedDataParallel. This prints what that buys: **samples per second of a
training epoch with 1 and with 2 processes, and their ratio** (2 processes at the same global
batch: each rank takes half of it). On a 2-core machine shared with other work the figures are
noisy and the ideal ratio is below 2 (the processes share the cores with everything else);
compare ratios taken in one run.

How: a training bundle of random 64 px views (``--samples`` samples, 6 classes, 3 views) is
written once; for each process count, :func:`facevlm.runner.launch.launch` runs the real
entry point (``torch.distributed.run`` -> ``python -m facevlm.train``) on fold 0 for
``--epochs`` epochs of AffectVLM with ``facevlm-tiny`` (random init), one intra-op thread per
process. The figure is the loop's own epoch time (``time_s`` of the history, rank 0, evaluation
and checkpoints excluded) of the last epoch (the first ones warm up), as samples per second.

Side by side (``--side-by-side``): a cross-validation's folds trained one after another by one
process on every core's thread (``numerics.threads`` = cores), against the same folds trained by
one single-thread process per core side by side (``execution.cpu_processes: auto``,
:mod:`facevlm.runner.side_by_side`), each with its evaluations, as the Kedro pipeline trains
them: the wall time of each and their ratio.

With CUDA (``--gpu``, default on when a GPU is visible): the paper configuration (ViT-B/32,
random init, 3 views at 224 px, batch 128, bf16 autocast on Ampere or newer): images per second
of the real training step, peak GPU memory, and the step against the bare model's forward and
backward on the same batch (``bare / step``, goal >= 0.8).

Over the data's size (``--memory``): the peak memory (RSS) of one training epoch on the
built-in render set against one ``--factor`` (20) times larger. Training used to hold every
decoded view of the render set in RAM, so memory grew with the dataset; views now stay in the
render set's ``views.npy`` (resized once into ``views_<S>px.npy``) and each batch reads only
its own rows (:mod:`facevlm.scans.view_store`). Goal: **peak RSS of the x20 set < 1.5 x that of
the built-in set**. Each run is a fresh process (so ``ru_maxrss`` is its own peak) of the
training node's code path -- ``experiment_data`` (join with the fold table, class filter,
resize to the model's 64 px, lazily) then ``affectvlm.fit`` on fold 0's training rows for
``--epochs`` epochs (``facevlm-tiny``, random init, batch 16, no evaluation) -- on the latest
render set of ``kedro run --pipeline=data`` (``data/04_feature/renders``, with the protocol's
fold table) and on the same renders replicated (each copy a new subject, so the folds grow too;
``views.npy`` only, written once under ``--work`` and reused), each **streamed** (the project)
and **in RAM** (the same 64 px views loaded into one array first, as training once did).

Run from the repository root::

    python benchmarks/scaling.py [--samples 480] [--epochs 3] [--batch-size 32] [--nprocs 1,2]
    python benchmarks/scaling.py --side-by-side [--samples 192] [--epochs 20] [--folds 5]
    kedro run --pipeline=train_affectvlm --to-nodes=affectvlm.folds
    python benchmarks/scaling.py --memory [--factor 20] [--epochs 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub import

# isort: off
from facevlm.numerics import pin_process

# before numpy loads: the pinned numerical path of the runs it measures, which the imports
# below then follow
pin_process()
# ruff: noqa: E402
# isort: on

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _results
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


def tiny_bundle(folder: Path, n_samples: int, batch_size: int, epochs: int) -> Path:
    from facevlm.experiments.experiment_data import ExperimentData
    from facevlm.prompts.augmented import plain_label_bank
    from facevlm.runner.training_bundle import write_training_bundle

    rng = np.random.default_rng(0)
    per_subject = len(CLASSES)
    n_subjects = n_samples // per_subject
    rows = [
        {"sample_id": f"S{s}_{c}", "subject": f"S{s}", "expression": c, "fold": s % 5}
        for s in range(n_subjects)
        for c in CLASSES
    ]
    samples = pd.DataFrame(rows)
    labels = samples["expression"].map(CLASSES.index).to_numpy(np.int64)
    views = rng.integers(0, 256, (len(samples), 3, 64, 64, 3), dtype=np.uint8)
    experiment = {
        "model": {"backbone": {"name": "facevlm-tiny", "pretrained": None}},
        "augment": {},
        "train": {"epochs": epochs, "batch_size": batch_size},
        "execution": {"progress": False, "device": "cpu", "cpu_threads": 1},
    }
    data = ExperimentData(views, labels, samples, CLASSES)
    return write_training_bundle(folder, "affectvlm", data, plain_label_bank(CLASSES), experiment)


def cpu_scaling(args: argparse.Namespace) -> None:
    from facevlm.runner.launch import launch

    work = Path(tempfile.mkdtemp(prefix="facevlm-scaling-"))
    bundle = tiny_bundle(work / "bundle", args.samples, args.batch_size, args.epochs)
    env = {
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    rates = {}
    print(f"# load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    for nproc in [int(n) for n in args.nprocs.split(",")]:
        t0 = time.perf_counter()
        trained = launch(
            bundle,
            nproc,
            out_dir=work / f"out-{nproc}",
            folds=[0],
            overrides={"train.batch_size": args.batch_size // nproc},  # same global batch
            resume=False,
            env=env,
        )
        history = trained.result.folds[0].history
        n_train = int((pd.read_parquet(bundle / "samples.parquet")["fold"] != 0).sum())
        times = [r["time_s"] for r in history]
        rates[nproc] = n_train / times[-1]
        print(
            f"{nproc} process(es): {rates[nproc]:.1f} samples/s (last epoch {times[-1]:.1f} s; "
            f"epochs {', '.join(f'{t:.1f}' for t in times)} s; {n_train} training samples, "
            f"global batch {args.batch_size}; wall {time.perf_counter() - t0:.0f} s incl. start)",
            flush=True,
        )
    if 1 in rates and 2 in rates:
        print(f"ratio 2 / 1 processes: {rates[2] / rates[1]:.2f}")
    print(f"# load average {os.getloadavg()[0]:.1f}")
    first = min(rates)
    _results.record(
        __file__,
        "processes",
        [
            {
                "processes": n,
                "samples/s": round(rate, 1),
                f"/ {first} process": round(rate / rates[first], 2),
            }
            for n, rate in rates.items()
        ],
        notes=f"AffectVLM, facevlm-tiny, {args.samples} samples, global batch {args.batch_size}, "
        f"the last of {args.epochs} epochs; torchrun, gloo, one thread a process.",
    )


def side_by_side_scaling(args: argparse.Namespace) -> None:
    """The folds one after another on every core's thread, then side by side, one per core."""
    import torch

    from facevlm.cores import available_cores
    from facevlm.runner.bundle_training import train_from_bundle
    from facevlm.runner.side_by_side import train_side_by_side

    work = Path(tempfile.mkdtemp(prefix="facevlm-side-by-side-"))
    bundle = tiny_bundle(work / "bundle", args.samples, args.batch_size, args.epochs)
    cores = available_cores()
    folds = list(range(args.folds))
    overrides = {"execution.cpu_threads": None, "data.max_folds": args.folds}
    print(f"# load average {os.getloadavg()[0]:.1f}; {cores} cores; {len(folds)} folds")
    torch.set_num_threads(cores)
    started = time.perf_counter()
    train_from_bundle(bundle, work / "one-process", overrides=overrides, resume=False)
    one = time.perf_counter() - started
    print(f"one process, {cores} threads, folds one after another: {one:.1f} s", flush=True)
    torch.set_num_threads(1)
    started = time.perf_counter()
    train_side_by_side(bundle, work / "side", folds, None, cores, 1, overrides, "AffectVLM")
    train_from_bundle(bundle, work / "side", overrides=overrides)  # reads them back
    side = time.perf_counter() - started
    print(f"{cores} processes side by side, 1 thread each: {side:.1f} s")
    print(f"ratio one process / side by side: {one / side:.2f}")
    print(f"# load average {os.getloadavg()[0]:.1f}")
    _results.record(
        __file__,
        "side-by-side",
        [
            {
                "folds": len(folds),
                f"one process, {cores} threads s": round(one, 1),
                f"{cores} processes, 1 thread each s": round(side, 1),
                "ratio": round(one / side, 2),
            }
        ],
        notes=f"AffectVLM, facevlm-tiny, {args.samples} samples, {args.epochs} epochs a fold.",
    )


def gpu_figures(batch_size: int, steps: int) -> None:
    """Paper configuration on one GPU: images/s, peak memory, step against bare fwd+bwd."""
    import torch

    from facevlm.models.augment import AugmentConfig, MixedViewAugmentation
    from facevlm.models.backbone import BackboneConfig, get_tokenizer
    from facevlm.models.losses import AffectVLMLoss
    from facevlm.models.multiview_clip import MultiviewCLIPConfig, build_multiview_clip
    from facevlm.models.multiview_data import MultiviewDataset
    from facevlm.trainer import ExecutionConfig, TrainConfig, train
    from facevlm.trainer.precision import choose_amp_dtype

    device = torch.device("cuda")
    torch.manual_seed(0)
    model, _ = build_multiview_clip(MultiviewCLIPConfig(BackboneConfig("ViT-B-32", None)))
    tokenizer = get_tokenizer("ViT-B-32")
    n = batch_size * steps
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (n, 3, 224, 224, 3), dtype=np.uint8)
    labels = rng.integers(0, 6, n)
    prompts = [f"a photo of a face showing {CLASSES[c]}" for c in labels]
    dataset = MultiviewDataset(views, labels, prompts=prompts, tokenizer=tokenizer, image_size=224)
    cfg = TrainConfig(epochs=2, batch_size=batch_size)
    execution = ExecutionConfig(progress=False, num_workers=0)
    loss = AffectVLMLoss()
    torch.cuda.reset_peak_memory_stats()
    history = train(
        model,
        loss,
        dataset,
        cfg,
        execution=execution,
        augment=MixedViewAugmentation(AugmentConfig()),
    )
    step_s = history.epochs[-1]["time_s"] / steps
    peak = torch.cuda.max_memory_allocated() / 2**30
    dtype = choose_amp_dtype(True, cfg.amp_dtype, device)

    # bare model forward + backward on one batch already on the GPU
    images = torch.rand(batch_size, 3, 3, 224, 224, device=device)
    tokens = tokenizer(prompts[:batch_size]).to(device)
    target = torch.as_tensor(labels[:batch_size], device=device)
    model.train()
    loss.to(device)

    def bare() -> None:
        with torch.autocast("cuda", dtype=dtype):
            emb = model(images, tokens)
        total = sum(v for k, v in loss(emb, target).items() if k.startswith("loss/"))
        model.zero_grad(set_to_none=True)
        total.backward()

    for _ in range(3):
        bare()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        bare()
    torch.cuda.synchronize()
    bare_s = (time.perf_counter() - t0) / steps
    name = torch.cuda.get_device_name(device)
    print(
        f"GPU {name}: ViT-B/32, 3 views x 224 px, batch {batch_size}, {dtype}: "
        f"{batch_size * 3 / step_s:.0f} images/s ({batch_size / step_s:.0f} samples/s), "
        f"step {step_s * 1e3:.0f} ms, bare fwd+bwd {bare_s * 1e3:.0f} ms, "
        f"bare / step {bare_s / step_s:.2f} (goal >= 0.8), peak memory {peak:.1f} GiB"
    )
    _results.record(
        __file__,
        "gpu",
        [
            {
                "configuration": f"ViT-B/32, 3 views x 224 px, batch {batch_size}, {dtype}",
                "images/s": round(batch_size * 3 / step_s),
                "step ms": round(step_s * 1e3),
                "bare f+b ms": round(bare_s * 1e3),
                "bare / step": round(bare_s / step_s, 2),
                "peak GiB": round(peak, 1),
            }
        ],
        notes="Goal: bare / step >= 0.8.",
    )


#: What makes the built-in render set and AffectVLM's folds of it, and nothing more (the folds
#: are made per model, by the training pipeline's first node).
PREPARE = "kedro run --pipeline=train_affectvlm --to-nodes=affectvlm.folds"


def latest(pattern: str) -> Path:
    found = sorted(ROOT.glob(pattern))
    if not found:
        raise SystemExit(f"nothing matches {pattern}: run `{PREPARE}` first")
    return found[-1]


def builtin_set() -> tuple[Path, Path]:
    return latest("data/04_feature/renders/*/renders"), latest(
        "data/05_model_input/affectvlm/fold_table.csv/*/fold_table.csv"
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


def memory_child(folder: Path, fold_csv: Path, mode: str, epochs: int, threads: int) -> dict:
    """One measured run of ``--memory`` (in its own process)."""
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


def memory_scaling(args: argparse.Namespace) -> None:
    """Peak memory of an epoch on the built-in set and on one ``--factor`` times larger."""
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
    cmd = [sys.executable, __file__, "--memory", "--prepare", "--factor", str(args.factor),
           "--work", args.work]  # fmt: skip
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
            cmd = [sys.executable, __file__, "--memory", "--epochs", str(args.epochs),
                   "--threads", str(args.threads), "--child", str(folder), str(fold_csv),
                   mode]  # fmt: skip
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{name} {mode} failed:\n{done.stderr[-3000:]}")
            results[(mode, name)] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{mode:9s} {name:9s} {json.dumps(results[(mode, name)])}", flush=True)
    table = []
    for mode in args.modes.split(","):
        small = results[(mode, "built-in")]["peak_rss_mb"]
        for name in sets:
            r = results[(mode, name)]
            table.append(
                {"mode": mode, "set": name, "samples": r["samples"],
                 "train samples": r["train_samples"], "s / epoch": r["epoch_s"],
                 "peak RSS MB": r["peak_rss_mb"],
                 "/ built-in": round(r["peak_rss_mb"] / small, 2)}
            )  # fmt: skip
    _results.record(
        __file__,
        "memory",
        table,
        notes=f"One AffectVLM epoch (facevlm-tiny, {args.threads} thread(s)), each run a fresh "
        f"process; goal: the x{args.factor} set's peak streamed < 1.5 x the built-in set's.",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=480, help="samples in the bundle")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per run (last one counts; 3, --memory 1)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="global batch size")
    parser.add_argument("--nprocs", default="1,2", help="process counts to compare")
    parser.add_argument("--side-by-side", action="store_true", help="folds side by side")
    parser.add_argument("--folds", type=int, default=5, help="folds (with --side-by-side)")
    parser.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--gpu-batch-size", type=int, default=128)
    parser.add_argument("--gpu-steps", type=int, default=10)
    parser.add_argument("--memory", action="store_true", help="memory over the set's size")
    parser.add_argument("--factor", type=int, default=20, help="size of the large set (copies)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (--memory)")
    parser.add_argument("--work", default=str(ROOT / "data/05_model_input/benchmark_train_memory"))
    parser.add_argument("--modes", default="streamed,in_ram", help="--memory's modes")
    parser.add_argument(
        "--child", nargs=3, metavar=("FOLDER", "FOLDS", "MODE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = 1 if args.memory else 3
    if args.memory and args.child:
        folder, folds, mode = args.child
        result = memory_child(Path(folder), Path(folds), mode, args.epochs, args.threads)
        print(json.dumps(result))
        return
    if args.memory:
        memory_scaling(args)
        return
    if args.side_by_side:
        side_by_side_scaling(args)
        return
    cpu_scaling(args)
    import torch

    if args.gpu or (args.gpu is None and torch.cuda.is_available()):
        gpu_figures(args.gpu_batch_size, args.gpu_steps)
    else:
        print("no CUDA device: GPU figures not measured")


if __name__ == "__main__":
    main()

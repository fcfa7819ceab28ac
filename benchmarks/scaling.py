"""Training throughput with 1 and 2 processes (DDP, gloo) on CPU; GPU figures when CUDA exists.

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

Run from the repository root::

    python benchmarks/scaling.py [--samples 480] [--epochs 3] [--batch-size 32] [--nprocs 1,2]
    python benchmarks/scaling.py --side-by-side [--samples 192] [--epochs 20] [--folds 5]
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
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=480, help="samples in the bundle")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (last one counts)")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch size")
    parser.add_argument("--nprocs", default="1,2", help="process counts to compare")
    parser.add_argument("--side-by-side", action="store_true", help="folds side by side")
    parser.add_argument("--folds", type=int, default=5, help="folds (with --side-by-side)")
    parser.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--gpu-batch-size", type=int, default=128)
    parser.add_argument("--gpu-steps", type=int, default=10)
    args = parser.parse_args()
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

"""Time of one full training step of the project against the bare model forward and backward.

Why: the training loop (:func:`facevlm.trainer.train`) adds data loading, mixed view
augmentation and the optimiser bookkeeping around the model's own math. On CPU that overhead
should stay small: the goal is **project step / bare forward+backward <= 1.15**.

What it measures, in one run, for AffectVLM (``AffectVLMLoss``, labels = ground-truth classes,
augmented prompts drawn per sample) and SMILE-VLM (``SmileVLMLoss``, labels = the pseudo-prompt
ids, ``loss_labels="prompt_ids"``, a descriptive prompt group per sample):

- **project**: ms per step of the real loop. ``train()`` runs on a real
  ``MultiviewDataset`` of uint8 views already at the model's size (what
  ``experiments.experiment_data.resize_views`` prepares) with ``MixedViewAugmentation``; every step is
  next batch from ``make_loader`` -> augmentation -> forward -> loss dict sum -> backward ->
  gradient clipping -> AdamW step -> scheduler step -> logit-scale clamp. The time per epoch is
  the loop's own ``record["time_s"]`` (taken around ``_run_epoch``, so the ``on_epoch_end`` hook,
  checkpoints and evaluation are outside it), divided by the steps per epoch. SMILE-VLM's
  pseudo-label refresh (a ``before_epoch`` hook, every few epochs) is not a per-step cost and is
  not run: the dataset gets fixed pseudo-labelled prompts.
- **loop step**: the loop's own per-step function (``Optimisation.step``: forward, loss,
  backward, clip, AdamW, scheduler, clamp) on one batch already in memory and already augmented;
  i.e. the project step without data loading and augmentation.
- **bare f+b+opt**: forward, loss sum, ``zero_grad``, backward and ``optimizer.step()`` of the
  loop's own AdamW (same parameter groups and flags) on the same in-memory batch; no clipping,
  scheduler or clamp.
- **bare f+b**: forward, loss sum, ``zero_grad``, backward; no optimiser step. THIS is the
  reference of the goal ("bare model forward and backward on the same batch already in memory").
- **data** / **aug**: iterating a loader of the same dataset alone, and the augmentation alone
  on one batch (ms per batch), to tell where the overhead goes.

The bare variants run on a deep copy of the model and loss (identical math and parameter
values), inside the ``on_epoch_end`` hook of the same ``train()`` call, so they run under the
loop's settings (deterministic algorithms on CPU, thread count) and interleave with the
project epochs, which matters on a machine whose load varies. The first ``--warmup`` epochs
(and the bare iterations after them) are excluded; each figure is the median over ``--repeats``
repeats of the mean over ``--steps`` steps, and ``spread`` (max / min - 1 of the project
epochs) says how noisy the machine was. On a shared machine whose cores are busy, use
``--threads 1``: with as many intra-op threads as cores, every parallel op waits for a thread
that another process holds, and all figures (small ops most) become slow and erratic.

Run from the repository root::

    python benchmarks/train_step.py [--model affectvlm|smile|both] [--backbone facevlm-tiny]
        [--batch-size 32] [--threads N] [--views 3] [--steps 8] [--repeats 7] [--warmup 1]

``--backbone ViT-B-32`` (random weights, ``pretrained=None``) is the paper's model; its batch
defaults to 8 there (32 for ``facevlm-tiny``). Nothing is downloaded (``HF_HUB_OFFLINE=1``).

On a GPU (``--device cuda``) the same comparison runs with the loop's CUDA settings (bf16
autocast on Ampere or newer, TF32, pinned memory, ``--workers`` loader processes; ``--compile``
for ``torch.compile``), the bare side under the same autocast, and each timing waits for the
device. The GPU goal: **bare forward+backward / project step >= 0.8** (the loop's own work
hidden behind the GPU's), i.e. project / bare <= 1.25. The paper configuration::

    python benchmarks/train_step.py --device cuda --backbone ViT-B-32 --batch-size 128 --workers 0
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub import

import argparse
import contextlib
import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import _results
import numpy as np
import pandas as pd
import torch
from torch import nn

from facevlm.models.augment import AugmentConfig, MixedViewAugmentation
from facevlm.models.backbone import BackboneConfig
from facevlm.models.losses import AffectVLMLoss, SmileVLMLoss
from facevlm.models.multiview_clip import MultiviewCLIP, MultiviewCLIPConfig, build_multiview_clip
from facevlm.models.multiview_data import MultiviewBatch, MultiviewDataset, make_loader
from facevlm.prompts.augmented import build_prompt_bank, candidate_prompts
from facevlm.prompts.descriptive import descriptive_prompt_bank
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.trainer import ExecutionConfig, TrainConfig, train
from facevlm.trainer.objective import as_module_list
from facevlm.trainer.step import Optimisation

GOAL = {"cpu": 1.15, "cuda": 1.25}  # project step / bare forward+backward, at most


@dataclass
class Case:
    """One model to benchmark: what ``train()`` gets."""

    name: str
    model: MultiviewCLIP
    loss: nn.Module
    dataset: MultiviewDataset
    augment: MixedViewAugmentation
    cfg: TrainConfig
    execution: ExecutionConfig


# ---- synthetic data of the right shape and kind ------------------------------------------------


def _views(n: int, n_views: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``(N, V, S, S, 3)`` uint8 views at the model's size (as ``resize_views`` leaves them)."""
    return rng.integers(0, 256, size=(n, n_views, size, size, 3), dtype=np.uint8)


def _subject_index(n: int, labels: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """A scan index with recorded metadata, so that AffectVLM's metadata prompts exist."""
    return pd.DataFrame(
        {
            "gender": rng.choice(["F", "M"], n),
            "age": rng.integers(18, 80, n),
            "ethnicity": rng.choice(["White", "Asian", "Black", "Latino"], n),
            "expression": [BASIC_EMOTIONS[c] for c in labels],
        }
    )


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return "CPU"


def make_case(name: str, args: argparse.Namespace, n_samples: int) -> Case:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    model, tokenizer = build_multiview_clip(
        MultiviewCLIPConfig(
            backbone=BackboneConfig(name=args.backbone, pretrained=None), n_views=args.views
        )
    )
    rng = np.random.default_rng(0)
    views = _views(n_samples, args.views, model.image_size, rng)
    labels = rng.integers(0, len(BASIC_EMOTIONS), n_samples)
    common = dict(epochs=args.warmup + args.repeats, batch_size=args.batch_size, warmup_epochs=1.0)
    execution = ExecutionConfig(
        progress=False,
        cpu_threads=args.threads,
        device=args.device,
        compile=args.compile,
        num_workers=args.workers,
    )
    if name == "affectvlm":
        index = _subject_index(n_samples, labels, rng)
        bank = build_prompt_bank(index, BASIC_EMOTIONS)
        prompts = [candidate_prompts(bank, row) for row in index.to_dict("records")]
        dataset = MultiviewDataset(
            views, labels, prompts=prompts, tokenizer=tokenizer, image_size=model.image_size
        )
        return Case(
            "AffectVLM",
            model,
            AffectVLMLoss(),
            dataset,
            MixedViewAugmentation(AugmentConfig()),
            TrainConfig(loss_labels="labels", **common),
            execution,
        )
    # SMILE-VLM: no ground truth; each sample gets the sentences of its pseudo-label's group
    bank = descriptive_prompt_bank(BASIC_EMOTIONS)
    groups = [list(bank.loc[bank["class_name"] == c, "prompt"]) for c in BASIC_EMOTIONS]
    pseudo = rng.integers(0, len(groups), n_samples)
    dataset = MultiviewDataset(views, None, tokenizer=tokenizer, image_size=model.image_size)
    dataset.set_prompts([groups[g] for g in pseudo], prompt_ids=pseudo)
    return Case(
        "SMILE-VLM",
        model,
        SmileVLMLoss(),
        dataset,
        MixedViewAugmentation(AugmentConfig()),
        TrainConfig(loss_labels="prompt_ids", **common),
        execution,
    )


# ---- the bare side ------------------------------------------------------------------------------


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _mean_ms(fn: Callable[[], object], steps: int) -> float:
    _sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync()
    return (time.perf_counter() - t0) / steps * 1e3


class Bare:
    """Copies of the model and loss with their own optimiser, and one batch in memory."""

    def __init__(self, case: Case, steps_per_epoch: int):
        self.case = case
        device = torch.device(case.execution.device)
        self.opt = Optimisation.build(
            copy.deepcopy(case.model),
            as_module_list(copy.deepcopy(case.loss)),
            case.cfg,
            case.execution,
            device,
            steps_per_epoch,
        )
        self.augment = copy.deepcopy(case.augment)
        self.loader = make_loader(
            case.dataset,
            case.cfg.batch_size,
            shuffle=True,
            seed=1,
            num_workers=case.execution.num_workers,
            pin_memory=device.type == "cuda",
        )
        self.generator = torch.Generator(device=device).manual_seed(1)
        batch: MultiviewBatch = next(iter(self.loader)).to(device)
        self.raw_images = batch.views  # as loaded, for timing the augmentation alone
        self.images = self.augment(batch.views, generator=self.generator)  # as the model sees
        self.tokens = batch.tokens
        self.labels = {"labels": batch.labels, "prompt_ids": batch.prompt_ids}[case.cfg.loss_labels]
        self.opt.objective.train()

    def forward_backward(self) -> None:
        dtype = self.opt.amp_dtype
        autocast = torch.autocast("cuda", dtype=dtype) if dtype else contextlib.nullcontext()
        with autocast:  # the loop's autocast; on CPU none
            terms = self.opt.runner(self.images, self.tokens, self.labels)
        total = torch.stack([v for k, v in terms.items() if k.startswith("loss/")]).sum()
        self.opt.optimizer.zero_grad(set_to_none=True)
        total.backward()

    def forward_backward_step(self) -> None:
        self.forward_backward()
        self.opt.optimizer.step()

    def loop_step(self) -> None:
        self.opt.step(self.images, self.tokens, self.labels)

    def data(self) -> None:
        for _ in self.loader:
            pass

    def aug(self) -> None:
        self.augment(self.raw_images, generator=self.generator)

    def measure(self, steps: int) -> dict[str, float]:
        n_batches = len(self.loader)
        return {
            "loop_step": _mean_ms(self.loop_step, steps),
            "bare_fbo": _mean_ms(self.forward_backward_step, steps),
            "bare_fb": _mean_ms(self.forward_backward, steps),
            "data": _mean_ms(self.data, 1) / n_batches,
            "aug": _mean_ms(self.aug, steps),
        }


#: The timings of a case, in the order the table shows them (ms a step; data and aug: a batch).
KEYS = ("project", "loop_step", "bare_fbo", "bare_fb", "data", "aug")


# ---- one model ----------------------------------------------------------------------------------


def run_case(name: str, args: argparse.Namespace) -> dict[str, float]:
    n_samples = args.steps * args.batch_size
    case = make_case(name, args, n_samples)
    bare = Bare(case, args.steps)
    samples: dict[str, list[float]] = {}

    def on_epoch_end(epoch: int, record: dict[str, float], model: nn.Module) -> None:
        timed = bare.measure(args.steps)  # runs under train()'s settings, after each epoch
        if epoch < args.warmup:
            return
        samples.setdefault("project", []).append(record["time_s"] / args.steps * 1e3)
        for key, value in timed.items():
            samples.setdefault(key, []).append(value)

    train(
        case.model,
        case.loss,
        case.dataset,
        case.cfg,
        execution=case.execution,
        augment=case.augment,
        on_epoch_end=on_epoch_end,
    )
    out = {k: statistics.median(v) for k, v in samples.items()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out["spread"] = max(samples["project"]) / min(samples["project"]) - 1  # noise indicator
    return {"name": case.name, **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("affectvlm", "smile", "both"), default="both")
    parser.add_argument("--backbone", default="facevlm-tiny", help="open_clip architecture")
    parser.add_argument("--batch-size", type=int, default=None, help="32 tiny, 8 otherwise")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--views", type=int, default=3, help="views per sample")
    parser.add_argument("--steps", type=int, default=8, help="steps per epoch / per repeat")
    parser.add_argument("--repeats", type=int, default=7, help="timed epochs (median taken)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--compile", action="store_true", help="torch.compile (execution.compile)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = parser.parse_args()
    if args.batch_size is None:
        args.batch_size = 32 if args.backbone == "facevlm-tiny" else 8
    torch.set_num_threads(args.threads)

    names = ["affectvlm", "smile"] if args.model == "both" else [args.model]
    print(
        f"backbone {args.backbone} (random init), {args.views} views, batch {args.batch_size}, "
        f"{args.threads} threads, {args.steps} steps x {args.repeats} repeats "
        f"on {_device_name(args.device)}{', compiled' if args.compile else ''}, "
        f"(+{args.warmup} warm-up), torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = (
        f"{'model':<10} {'project':>9} {'loop step':>9} {'bare f+b+opt':>12} {'bare f+b':>9}"
        f" {'data':>7} {'aug':>7} | {'proj/(f+b)':>10} {'proj/(f+b+opt)':>14} {'spread':>6}"
    )
    print(
        "ms per step (median); data and aug: ms per batch, measured alone; "
        "spread: max/min - 1 of the project epochs (noise)"
    )
    print(header)
    print("-" * len(header))
    results = []
    for name in names:
        r = run_case(name, args)
        results.append(r)
        print(
            f"{r['name']:<10} {r['project']:>9.2f} {r['loop_step']:>9.2f} {r['bare_fbo']:>12.2f}"
            f" {r['bare_fb']:>9.2f} {r['data']:>7.2f} {r['aug']:>7.2f} |"
            f" {r['project'] / r['bare_fb']:>10.3f} {r['project'] / r['bare_fbo']:>14.3f}"
            f" {r['spread']:>6.0%}",
            flush=True,
        )
    goal = GOAL["cuda" if args.device.startswith("cuda") else "cpu"]
    print(
        f"goal: project / bare forward+backward (proj/(f+b)) <= {goal}; "
        "proj/(f+b+opt) puts the AdamW step on both sides"
    )
    for r in results:
        ratio = r["project"] / r["bare_fb"]
        print(f"  {r['name']}: {ratio:.3f} {'meets' if ratio <= goal else 'MISSES'} the goal")
        if "peak_gib" in r:
            print(
                f"  {r['name']}: {args.batch_size * args.views / r['project'] * 1e3:.0f} images/s "
                f"in training, peak GPU memory {r['peak_gib']:.1f} GiB (with the bare copy)"
            )
    rows = [
        {
            "model": r["name"],
            **{f"{key} ms": round(r[key], 2) for key in KEYS if key in r},
            "project / bare f+b": round(r["project"] / r["bare_fb"], 3),
            "project / bare f+b+opt": round(r["project"] / r["bare_fbo"], 3),
            "images/s": round(args.batch_size * args.views / r["project"] * 1e3),
            "peak GiB": round(r["peak_gib"], 1) if "peak_gib" in r else None,
            "spread": round(r["spread"], 2),
        }
        for r in results
    ]
    # one table per device and backbone: the CPU recipe's and the paper configuration's side by side
    _results.record(
        __file__,
        f"{args.device.split(':')[0]}-{args.backbone}",
        rows,
        notes=f"{args.views} views, batch {args.batch_size}, {args.threads} threads, "
        f"{args.steps} steps x {args.repeats} repeats (median){', compiled' if args.compile else ''}"
        f"; goal: project / bare forward+backward <= {goal}; spread: max / min - 1 of the "
        "project epochs (noise).",
    )


if __name__ == "__main__":
    main()

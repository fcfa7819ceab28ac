"""The shared training loop of AffectVLM and SMILE-VLM (torch only; runs under torchrun for DDP).

One loop for both models: they differ only in the loss modules they pass (each returns a dict of
already weighted ``loss/<name>`` terms that the loop sums, and detached ``stat/<name>`` values it
only logs), in what reaches the losses as ``labels`` (AffectVLM: the ground-truth classes;
SMILE-VLM: ``loss_labels="prompt_ids"``, the pseudo-label of each sample's prompt, so no ground
truth enters self-supervised training) and in their epoch hooks (SMILE-VLM refreshes its
pseudo-label prompts in ``before_epoch``). The recipe (docs/methods.md): AdamW with weight decay
0.05, a lower learning rate for the pretrained CLIP towers than for new heads (fusion, learnable
loss parameters), linear warm-up then cosine decay per step, gradient clipping, mixed precision on
CUDA only, and the CLIP logit scale clamped to [0, ln 100] after each step.

Devices: CUDA when present (``device: auto``), with TF32 matmuls, bf16 autocast on Ampere or newer
and fp16 autocast with a gradient scaler on older GPUs, pinned host memory and ``num_workers``
loader processes, and ``compile: true`` for ``torch.compile``; CPU otherwise. The CPU path is the
same code with autocast and scaler switched off.

Reproducibility: every epoch reseeds torch from ``(seed, epoch, rank)`` and the data order comes
from ``DistributedSampler.set_epoch``, so the same config gives bit-identical weights on CPU, and a
run resumed from an epoch checkpoint continues exactly as the uninterrupted run would: the
checkpoint also holds the generator states, the dataset's prompts (SMILE-VLM's pseudo-labels) and
the caller's ``extra_state``. Checkpoints go to a folder keyed by everything that determines the
run (see :mod:`facevlm.models.checkpoints`), so ``resume: latest`` only ever finds this run's.

Overlap (CPU): with ``prefetch`` (on by default when the intra-op threads leave a core free) the
next batch is loaded before the current step and augmented in a background thread while the step
runs, so the augmentation takes no time of the step; the batches and augmentation draws are the
same as without it (see :func:`_augmented_batches`).

Single process:
    >>> history = train(model, [loss], dataset, TrainConfig(epochs=10, checkpoint_dir="ckpt"))
Multi-GPU (the entry script calls ``setup_distributed()`` first, then ``train`` as above):
    $ torchrun --nproc_per_node=4 my_train_script.py
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.utils.deterministic
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from facevlm.cores import available_cores
from facevlm.models.checkpoints import (
    Stateful,
    checkpoint_path,
    differing_parts,
    latest_checkpoint,
    load_checkpoint,
    module_signature,
    rng_state,
    run_identity,
    save_checkpoint,
    set_rng_state,
    state_digest,
    write_identity,
)
from facevlm.models.data import MultiviewBatch, make_loader
from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses import loss_terms_total
from facevlm.models.losses.distributed import is_distributed, rank, world_size  # noqa: F401

logger = logging.getLogger(__name__)

__all__ = [  # the checkpoint helpers are re-exported: callers import them from here
    "TrainConfig",
    "TrainHistory",
    "checkpoint_path",
    "latest_checkpoint",
    "load_checkpoint",
    "setup_distributed",
    "train",
]

#: Parameter-name prefix of the pretrained towers inside the objective (``MultiviewCLIP.clip``).
BACKBONE_PREFIX = "model.clip."


@dataclass
class TrainConfig:
    epochs: int = 30  # total epochs (a resumed run continues up to this number)
    batch_size: int = 64  # per process; used when train() builds the loader from a Dataset
    lr_backbone: float = 1e-5  # DECIDED: pretrained CLIP towers and their logit scale
    lr_head: float = 1e-3  # DECIDED: new heads (view fusion) and learnable loss parameters
    weight_decay: float = 0.05  # AdamW; never on biases, norm gains and scalars (ndim < 2)
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas (open_clip's CLIP recipe)
    eps: float = 1e-6  # AdamW epsilon
    warmup_epochs: float = 1.0  # linear warm-up from 0, in epochs (converted to steps)
    min_lr_ratio: float = 0.0  # cosine decays each group's lr to min_lr_ratio * lr
    grad_clip_norm: float | None = 1.0  # clip the global gradient norm; None disables
    amp: bool = True  # autocast on CUDA only (ignored on CPU)
    # auto: bfloat16 on Ampere or newer, else float16 (float16 adds a GradScaler); bfloat16 on a
    # GPU without it falls back to float16 with a warning
    amp_dtype: str = "auto"
    compile: bool = False  # torch.compile the model + losses (first steps slower: compilation)
    clamp_logit_scale: bool = True  # clamp log(1/temperature) to [0, ln 100] after each step
    loss_labels: str = "labels"  # what losses get as labels: labels | prompt_ids | none
    seed: int = 0  # seeds data order, augmentation, prompt draws
    deterministic: bool = True  # torch.use_deterministic_algorithms while training on CPU
    device: str = "auto"  # auto (cuda when available, else cpu) | cpu | cuda | cuda:N
    num_workers: int = 0  # DataLoader worker processes when train() builds the loader
    # augment the next batch in a background thread while the current step runs (CPU only);
    # None: on when the intra-op threads leave a core free (same batches, same draws either way)
    prefetch: bool | None = None
    cpu_threads: int | None = None  # torch.set_num_threads while training (None: leave as is)
    # write <checkpoint_dir>/run-<key>/epoch_NNNN.pt after every epoch (rank 0); the key digests
    # what determines the run (this config, run_key, data, initial weights, losses, processes)
    checkpoint_dir: str | None = None
    keep_checkpoints: int = 0  # keep only the newest N epoch checkpoints; 0 keeps all
    resume: str | None = None  # a checkpoint file, or "latest" (newest of this run's folder)
    # what identifies the run beyond what the loop sees (the experiment config, the data
    # fingerprint, the fold): part of the checkpoint folder's key
    run_key: str | None = None
    progress: bool = True  # tqdm bar with the running loss (rank 0)
    find_unused_parameters: bool = True  # DDP: allow parameters no loss term reaches
    # processes the Kedro pipeline launches for each model (torchrun: gloo on CPU, NCCL on GPUs);
    # None or 1: train in the Kedro process itself
    nproc: int | None = None

    def __post_init__(self) -> None:
        if self.loss_labels not in ("labels", "prompt_ids", "none"):
            raise ValueError(
                f"loss_labels must be labels | prompt_ids | none, got {self.loss_labels!r}"
            )
        if self.amp_dtype not in ("auto", "bfloat16", "float16"):
            raise ValueError(f"amp_dtype must be auto | bfloat16 | float16, got {self.amp_dtype!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")


@dataclass
class TrainHistory:
    """One record per epoch: ``epoch`` (1-based), ``loss`` (total), each loss term, ``lr_*``,
    ``logit_scale`` (exp, the inverse temperature), ``time_s`` and ``eval/<name>`` metrics."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    checkpoint_dir: str | None = None  # this run's keyed checkpoint folder, when it wrote one

    def metric(self, name: str) -> list[float]:
        return [rec[name] for rec in self.epochs if name in rec]

    def to_dict(self) -> dict[str, list[float]]:
        """``{metric: [value per epoch]}`` (e.g. for an MLflow metrics history)."""
        names = dict.fromkeys(k for rec in self.epochs for k in rec)
        return {k: self.metric(k) for k in names}

    @property
    def last(self) -> dict[str, float]:
        return self.epochs[-1] if self.epochs else {}


BeforeEpoch = Callable[[int, nn.Module], None]  # (epoch 0-based, model) -> None
Evaluate = Callable[[nn.Module, int], Mapping[str, float]]  # (model, epoch) -> metrics
OnEpochEnd = Callable[[int, dict[str, float], nn.Module], None]  # (epoch, record, model)


# ---- distributed helpers ------------------------------------------------------------------------


def setup_distributed(device: str = "auto") -> tuple[int, int, int]:
    """Initialise the process group from torchrun's environment; returns (rank, world, local_rank).

    No-op (returns ``(0, 1, 0)``) when not launched by torchrun. ``device`` is the run's
    ``train.device``: NCCL and one GPU per process when it trains on CUDA, gloo when it trains on
    the CPU -- also on a machine that has a GPU (a CPU run there once picked NCCL and failed).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not is_distributed():
        on_cuda = resolve_device(device).type == "cuda"
        if on_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    return rank(), world if is_distributed() else 1, local_rank


def resolve_device(name: str) -> torch.device:
    """The training device for ``train.device`` (auto | cpu | cuda | cuda:N).

    ``auto`` and a bare ``cuda`` get an explicit index: the process's own GPU under torchrun
    (``LOCAL_RANK``), else GPU 0 of those visible. ``torch.cuda.set_device`` needs one."""
    if name == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda" if name == "auto" else name)
    if device.type == "cuda" and device.index is None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0")) if is_distributed() else 0
        return torch.device("cuda", local_rank)
    return device


# ---- objective and optimiser --------------------------------------------------------------------


class Objective(nn.Module):
    """Model + loss modules as one module, so DDP syncs the loss parameters (e.g. a margin) too.

    ``forward(images, tokens, labels)`` returns the terms of every loss module (``loss/*`` to
    sum, ``stat/*`` to log); the model runs under the caller's autocast, the losses in float32.
    """

    def __init__(self, model: nn.Module, losses: nn.ModuleList):
        super().__init__()
        self.model = model
        self.losses = losses

    def forward(
        self, images: torch.Tensor, tokens: torch.Tensor | None, labels: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        emb = self.model(images, tokens)
        emb = MultiviewEmbeddings(  # losses in float32, whatever the autocast dtype
            **{f.name: _float(getattr(emb, f.name)) for f in fields(MultiviewEmbeddings)}
        )
        terms: dict[str, torch.Tensor] = {}
        with torch.autocast(device_type=images.device.type, enabled=False):
            for loss in self.losses:
                for name, value in loss(emb, labels).items():
                    if name in terms:
                        raise ValueError(f"two loss modules return a term named {name!r}")
                    if not name.startswith(("loss/", "stat/")):
                        raise ValueError(f"loss term {name!r} is neither 'loss/...' nor 'stat/...'")
                    terms[name] = value
        if not any(name.startswith("loss/") for name in terms):
            raise ValueError("the loss modules returned no 'loss/...' term")
        return terms


def _float(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


def _as_module_list(loss_modules: nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module]):
    if isinstance(loss_modules, nn.Module) and not isinstance(loss_modules, nn.ModuleList):
        return nn.ModuleList([loss_modules])
    if isinstance(loss_modules, Mapping):
        return nn.ModuleList(list(loss_modules.values()))
    return nn.ModuleList(list(loss_modules))


def param_groups(objective: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: {backbone, head} x {decay, no_decay}; frozen parameters are left out."""
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, p in objective.named_parameters():
        if not p.requires_grad:
            continue
        part = "backbone" if name.startswith(BACKBONE_PREFIX) else "head"
        decay = p.ndim >= 2 and "logit_scale" not in name
        groups.setdefault((part, decay), []).append(p)
    if not groups:
        raise ValueError("nothing to train: every parameter is frozen")
    lr = {"backbone": cfg.lr_backbone, "head": cfg.lr_head}
    return [
        {
            "name": f"{part}_{'decay' if decay else 'no_decay'}",
            "params": params,
            "lr": lr[part],
            "weight_decay": cfg.weight_decay if decay else 0.0,
        }
        for (part, decay), params in sorted(groups.items())
    ]


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float) -> Callable[[int], float]:
    """lr multiplier at ``step``: linear 0 -> 1 over warm-up, then cosine 1 -> ``min_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


# ---- devices and mixed precision ----------------------------------------------------------------


def choose_amp_dtype(
    amp: bool, requested: str, device: torch.device, capability: tuple[int, int] | None = None
) -> torch.dtype | None:
    """The autocast dtype for ``device`` (``None``: no autocast, the CPU case).

    bf16 needs compute capability 8.0 (Ampere) or newer; older GPUs get fp16, which the loop
    pairs with a GradScaler. ``capability`` defaults to the device's own.
    """
    if not amp or device.type != "cuda":
        return None
    if capability is None:
        capability = torch.cuda.get_device_capability(device)
    has_bf16 = capability[0] >= 8
    if requested == "auto":
        return torch.bfloat16 if has_bf16 else torch.float16
    if requested == "bfloat16" and not has_bf16:
        logger.warning(
            "bfloat16 autocast needs compute capability 8.0, this GPU has %d.%d: "
            "training in float16 with a grad scaler",
            *capability,
        )
        return torch.float16
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}[requested]


class _CudaMathSettings:
    """TF32 matmuls and convolutions while training on CUDA (restored afterwards)."""

    def __init__(self, device: torch.device):
        self.on = device.type == "cuda"

    def __enter__(self) -> None:
        if self.on:
            self.before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def __exit__(self, *exc) -> None:
        if self.on:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.before


# ---- the loop ------------------------------------------------------------------------------------


def train(
    model: nn.Module,
    loss_modules: nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module],
    train_data: DataLoader | Dataset,
    cfg: TrainConfig,
    *,
    augment: Callable[..., torch.Tensor] | None = None,
    before_epoch: BeforeEpoch | None = None,
    evaluate: Evaluate | None = None,
    on_epoch_end: OnEpochEnd | None = None,
    extra_state: Stateful | None = None,
) -> TrainHistory:
    """Train ``model`` (in place) on ``train_data`` with the summed terms of ``loss_modules``.

    Args:
        model: a :class:`MultiviewCLIP` (anything with ``forward(images, tokens) ->
            MultiviewEmbeddings``; parameters under ``.clip`` get ``lr_backbone``).
        loss_modules: one loss module, a list, or a dict of them; each ``forward(emb, labels)``
            returns ``{"loss/<term>": weighted tensor, "stat/<name>": detached value}``; the
            ``loss/*`` terms are summed. Their parameters are optimised (``lr_head``).
        train_data: a DataLoader of :class:`MultiviewBatch` (its ``batch_size`` wins; under DDP its
            sampler must be a DistributedSampler) or a Dataset (loaded with :func:`make_loader`).
        augment: batch augmentation ``augment(images (B, V, 3, H, W), generator=g)``, applied on
            the training device before the forward pass (e.g. ``MixedViewAugmentation``).
        before_epoch: ``before_epoch(epoch, model)`` at the start of every epoch (0-based), e.g.
            SMILE-VLM's pseudo-label refresh (it may call ``dataset.set_prompts``; do not use
            persistent DataLoader workers then).
        evaluate: ``evaluate(model, epoch) -> {metric: value}`` after every epoch, model in eval
            mode; recorded as ``eval/<metric>``. Runs on every rank under DDP.
        on_epoch_end: ``on_epoch_end(epoch, record, model)`` after the record is complete.
        extra_state: anything else a resumed run needs (``state_dict()`` / ``load_state_dict()``),
            e.g. SMILE-VLM's log of pseudo-label refreshes; saved in every checkpoint. The
            dataset's own state (its prompts) is saved when it has ``state_dict()``.

    Returns:
        The :class:`TrainHistory` (including the epochs of a resumed checkpoint).
    """
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if isinstance(augment, nn.Module):
        augment.to(device)  # its constant buffers (colour matrices) on the batch's device
    loader = (
        train_data
        if isinstance(train_data, DataLoader)
        else _default_loader(train_data, cfg, device)
    )
    if is_distributed() and not isinstance(loader.sampler, DistributedSampler):
        raise ValueError("under DDP the DataLoader needs a DistributedSampler (see make_loader)")
    if len(loader) == 0:
        raise ValueError("the training loader yields no batches")

    losses = _as_module_list(loss_modules)
    identity, described = _identity(model, losses, loader.dataset, augment, cfg)
    run_dir = None
    if cfg.checkpoint_dir is not None:
        run_dir = Path(cfg.checkpoint_dir) / f"run-{identity['key']}"
        if rank() == 0:
            write_identity(run_dir, identity, described)
    opt = _Optimisation.build(model, losses, cfg, device, len(loader))
    if isinstance(augment, nn.Module):
        augment.to(device)  # its constant buffers (colour matrices) live with the images
    history, start_epoch = TrainHistory(checkpoint_dir=None if run_dir is None else str(run_dir)), 0
    resume = cfg.resume
    if resume == "latest":
        if run_dir is None:
            raise ValueError("resume='latest' needs checkpoint_dir")
        resume = latest_checkpoint(run_dir)  # None: nothing to resume, start fresh
    if resume is not None:
        state = load_checkpoint(resume)  # on CPU: load_state_dict copies to the device
        differ = differing_parts(state.get("identity", {}), identity)
        if differ:  # only an explicitly named file can get here: the keyed folder is this run's
            logger.warning(
                "%s was written by another run (it differs in %s); resuming from it as asked",
                resume,
                ", ".join(differ),
            )
        start_epoch, history.epochs = opt.load(state)
        _restore_states(state, loader.dataset, extra_state)
        logger.info("resumed from %s (%d of %d epochs done)", resume, start_epoch, cfg.epochs)

    deterministic_before = torch.are_deterministic_algorithms_enabled()
    fill_before = torch.utils.deterministic.fill_uninitialized_memory
    threads_before = torch.get_num_threads()
    if cfg.cpu_threads is not None:
        torch.set_num_threads(cfg.cpu_threads)
    if cfg.deterministic and device.type == "cpu":
        torch.use_deterministic_algorithms(True)
        # NaN-filling every torch.empty makes CPU steps ~3x slower and adds no reproducibility
        torch.utils.deterministic.fill_uninitialized_memory = False
    math_settings = _CudaMathSettings(device)
    math_settings.__enter__()
    try:
        for epoch in range(start_epoch, cfg.epochs):
            seed = cfg.seed * 1_000_003 + epoch * 1_009 + rank()
            torch.manual_seed(seed)  # prompt draws, dropout, anything on the global RNG
            generator = torch.Generator(device=device).manual_seed(seed)  # augmentation
            if before_epoch is not None:
                before_epoch(epoch, model)
            if hasattr(loader.sampler, "set_epoch"):
                loader.sampler.set_epoch(epoch)
            record = _run_epoch(opt, loader, epoch, augment, generator)
            if evaluate is not None:
                opt.objective.eval()
                with torch.no_grad():
                    metrics = evaluate(model, epoch)
                opt.objective.train()
                record.update({f"eval/{k}": float(v) for k, v in metrics.items()})
            history.epochs.append(record)
            if run_dir is not None:
                state = opt.state(epoch + 1, history)
                rngs = _all_ranks(rng_state())  # collective: every rank takes part
                if rank() == 0:
                    state.update(
                        identity=identity,
                        rng=rngs,
                        dataset=_state_of(loader.dataset),
                        extra=None if extra_state is None else extra_state.state_dict(),
                    )
                    save_checkpoint(
                        checkpoint_path(run_dir, epoch + 1), state, cfg.keep_checkpoints
                    )
            if on_epoch_end is not None:
                on_epoch_end(epoch, record, model)
    finally:
        math_settings.__exit__(None, None, None)
        torch.use_deterministic_algorithms(deterministic_before)
        torch.utils.deterministic.fill_uninitialized_memory = fill_before
        torch.set_num_threads(threads_before)
    return history


def _default_loader(dataset: Dataset, cfg: TrainConfig, device: torch.device) -> DataLoader:
    if device.type == "cuda" and hasattr(dataset, "uint8_batches"):
        dataset.uint8_batches = True  # a quarter of the bytes to copy; float made on the GPU
    return make_loader(
        dataset,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda",  # page-locked batches: asynchronous host-to-GPU copies
        shard=True,
    )


#: TrainConfig fields that change how a run executes, not what it computes (left out of the key).
EXECUTION_ONLY_FIELDS = (
    "nproc",
    "resume",
    "checkpoint_dir",
    "keep_checkpoints",
    "progress",
    "prefetch",
    "cpu_threads",
    "num_workers",
    "device",
    "deterministic",
    "compile",
    "find_unused_parameters",
)


def _identity(
    model: nn.Module, losses: nn.ModuleList, dataset: Any, augment: Any, cfg: TrainConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's checkpoint identity (:func:`run_identity`) and its readable description."""
    config = {k: v for k, v in asdict(cfg).items() if k not in EXECUTION_ONLY_FIELDS}
    fingerprint = getattr(dataset, "fingerprint", None)
    data = (
        fingerprint() if callable(fingerprint) else f"{type(dataset).__qualname__}:{len(dataset)}"
    )
    parts = {
        "config": config,
        "run_key": cfg.run_key,
        "data": data,
        "initial_weights": state_digest(model),
        "losses": [state_digest(losses), module_signature(losses)],
        "augment": module_signature(augment),
        "world_size": dist.get_world_size() if is_distributed() else 1,
    }
    described = {**parts, "losses": module_signature(losses)}
    return run_identity(parts), described


def _state_of(dataset: Any) -> dict[str, Any] | None:
    state_dict = getattr(dataset, "state_dict", None)
    return state_dict() if callable(state_dict) else None


def _all_ranks(value: Any) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]`` (a list of one outside DDP)."""
    if not is_distributed():
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def _restore_states(state: dict[str, Any], dataset: Any, extra_state: Stateful | None) -> None:
    """Restore the dataset's prompts, the caller's extra state and this rank's generators."""
    if state.get("dataset") is not None and callable(getattr(dataset, "load_state_dict", None)):
        dataset.load_state_dict(state["dataset"])
    if extra_state is not None:
        if state.get("extra") is None:
            raise ValueError("the checkpoint holds no extra state to restore")
        extra_state.load_state_dict(state["extra"])
    rngs = state.get("rng") or []
    if len(rngs) == (dist.get_world_size() if is_distributed() else 1):
        set_rng_state(rngs[rank()])
    elif rngs:
        logger.warning(
            "checkpoint written by %d processes, resumed by another number: "
            "generator states not restored",
            len(rngs),
        )


@dataclass
class _Optimisation:
    """Everything one optimisation step needs: objective (and its DDP wrapper), optimiser,
    per-step schedule, grad scaler and autocast settings."""

    cfg: TrainConfig
    device: torch.device
    objective: Objective
    runner: nn.Module  # the objective, or DistributedDataParallel(objective)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None  # None: no autocast

    @property
    def params(self) -> list[nn.Parameter]:
        """Every parameter the optimiser updates."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    @classmethod
    def build(
        cls,
        model: nn.Module,
        losses: nn.ModuleList,
        cfg: TrainConfig,
        device: torch.device,
        steps_per_epoch: int,
    ) -> _Optimisation:
        objective = Objective(model, losses).to(device)
        # fused: one pass per parameter instead of ~10 elementwise kernels; on CPU the default
        # for-loop AdamW costs about a third of a facevlm-tiny forward+backward (the 49408 x 64
        # token embedding is updated in full every step), fused about a tenth of that
        optimizer = torch.optim.AdamW(
            param_groups(objective, cfg),
            betas=cfg.betas,
            eps=cfg.eps,
            fused=device.type in ("cpu", "cuda"),
        )
        schedule = warmup_cosine(
            warmup_steps=round(cfg.warmup_epochs * steps_per_epoch),
            total_steps=cfg.epochs * steps_per_epoch,
            min_ratio=cfg.min_lr_ratio,
        )
        amp_dtype = choose_amp_dtype(cfg.amp, cfg.amp_dtype, device)
        runner: nn.Module = objective
        if is_distributed():
            runner = DistributedDataParallel(
                objective,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters,
            )
        if cfg.compile:
            runner = torch.compile(runner)
        return cls(
            cfg=cfg,
            device=device,
            objective=objective,
            runner=runner,
            optimizer=optimizer,
            scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, schedule),
            scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
            amp_dtype=amp_dtype,
        )

    def step(
        self,
        images: torch.Tensor,
        tokens: torch.Tensor | None,
        labels: torch.Tensor | None,
        check: Callable[[torch.Tensor, dict[str, torch.Tensor]], None] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward, backward, clip, step, schedule, clamp; returns ``(total, terms)``.

        ``check(total, terms)`` runs between the forward and the backward pass (the loop passes
        its :class:`_LossCheck`, which raises on a non-finite loss)."""
        autocast = torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype else nullcontext()
        with autocast:
            terms = self.runner(images, tokens, labels)
        total = loss_terms_total(terms)
        if check is not None:
            check(total, terms)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.cfg.grad_clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            _clip_grad_norm(self.params, self.cfg.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        model = self.objective.model
        if self.cfg.clamp_logit_scale and hasattr(model, "clamp_logit_scale"):
            model.clamp_logit_scale()
        return total, terms

    def state(self, epochs_done: int, history: TrainHistory) -> dict[str, Any]:
        """The checkpoint after ``epochs_done`` epochs (model without any DDP wrapper)."""
        return {
            "model": self.objective.model.state_dict(),
            "losses": self.objective.losses.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epochs_done,
            "history": history.epochs,
            "config": asdict(self.cfg),
        }

    def load(self, state: dict[str, Any]) -> tuple[int, list[dict[str, float]]]:
        """Restore a checkpoint; returns ``(epochs done, epoch records so far)``."""
        self.objective.model.load_state_dict(state["model"])
        self.objective.losses.load_state_dict(state["losses"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        return int(state["epoch"]), list(state["history"])


class _LossCheck:
    """Raises ``FloatingPointError`` (naming the epoch and batch) when a step's loss is NaN or
    infinite.

    Immediate (CPU): the loss is read before the backward pass, so a bad batch changes no weight.
    Deferred (CUDA): reading a GPU value makes the host wait until the GPU has computed it, and
    the GPU then idles while the host queues the backward pass; once per step that cost the
    paper configuration several percent of its step time. So the finiteness flag is copied to
    pinned host memory without waiting, and read when the next step is checked (or when the
    epoch ends), long after the GPU wrote it. A non-finite step is then reported one step late,
    after its update was applied: the run stops either way, before that epoch's checkpoint.
    """

    def __init__(self, epoch: int, deferred: bool):
        self.epoch = epoch
        self.deferred = deferred
        self.batch = 0  # index of the next step's batch in the epoch
        self._flag: torch.Tensor | None = None  # host copy of the pending step's finiteness
        self._pending: tuple[int, torch.cuda.Event | None, dict[str, torch.Tensor]] | None = None

    def __call__(self, total: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        batch, self.batch = self.batch, self.batch + 1
        if not self.deferred:
            if not torch.isfinite(total):
                self._raise(batch, terms)
            return
        self.finish()  # the previous step's flag: written long ago, no wait
        finite = torch.isfinite(total.detach())
        if self._flag is None:
            self._flag = torch.empty((), dtype=torch.bool, pin_memory=finite.is_cuda)
        self._flag.copy_(finite, non_blocking=True)
        event = None
        if finite.is_cuda:
            event = torch.cuda.Event()
            event.record()
        self._pending = (batch, event, {k: v.detach() for k, v in terms.items()})

    def finish(self) -> None:
        """Read the pending step's flag (a deferred check); raises if its loss was not finite."""
        if self._pending is None:
            return
        batch, event, terms = self._pending
        self._pending = None
        if event is not None:
            event.synchronize()
        if not bool(self._flag):
            self._raise(batch, terms)

    def _raise(self, batch: int, terms: Mapping[str, torch.Tensor]) -> None:
        values = ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
        raise FloatingPointError(
            f"epoch {self.epoch + 1}, batch {batch}: non-finite loss: {values}"
        )


def _clip_grad_norm(params: Sequence[nn.Parameter], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_(params, max_norm)``, without its multiply-by-one.

    ``clip_grad_norm_`` always multiplies every gradient by ``min(max_norm / (norm + 1e-6), 1)``
    so that it never has to read the factor back from the device. On CPU reading it is free, and
    when the factor is exactly 1 (the norm is within bounds) the multiplication changes nothing:
    skipping it saves a read and a write of every gradient (the 49408 x 64 token embedding of
    ``facevlm-tiny`` included). The gradients are bit-identical to ``clip_grad_norm_``'s.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    total = torch.nn.utils.get_total_norm(grads)
    if total.device.type == "cpu":
        factor = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # as clip_grad_norm_ has it
        if factor.item() == 1.0:  # NaN is not 1: a non-finite norm still reaches the gradients
            return
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)


def _prefetch_enabled(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether ``_run_epoch`` augments the next batch in a background thread."""
    if cfg.prefetch is not None:
        return cfg.prefetch and device.type == "cpu"
    if device.type != "cpu":
        return False  # the augmentation is asynchronous GPU work already
    return torch.get_num_threads() < available_cores()  # a free core to augment on


def _loaded_ahead(loader: Iterable[MultiviewBatch], depth: int = 2) -> Iterator[MultiviewBatch]:
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


def _augmented_batches(
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


def _run_epoch(
    opt: _Optimisation,
    loader: Iterable[MultiviewBatch],
    epoch: int,
    augment: Callable[..., torch.Tensor] | None,
    generator: torch.Generator,
) -> dict[str, float]:
    """One pass over ``loader``; returns the epoch record (means over batches and ranks)."""
    cfg = opt.cfg
    opt.objective.train()
    sums: dict[str, torch.Tensor] = {}
    n_batches = 0
    t0 = time.perf_counter()
    n_expected = len(loader) if isinstance(loader, Sized) else None
    if opt.device.type == "cuda" and cfg.num_workers == 0:
        loader = _loaded_ahead(loader)  # host loading overlaps the asynchronous GPU step
    bar = tqdm(
        loader,
        total=n_expected,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        disable=not (cfg.progress and rank() == 0),
    )
    prefetch = _prefetch_enabled(cfg, opt.device)
    check = _LossCheck(epoch, deferred=opt.device.type == "cuda")
    for batch, images in _augmented_batches(bar, opt.device, augment, generator, prefetch):
        labels = {"labels": batch.labels, "prompt_ids": batch.prompt_ids, "none": None}
        total, terms = opt.step(images, batch.tokens, labels[cfg.loss_labels], check=check)
        for name, value in {"loss": total, **terms}.items():
            sums[name] = sums.get(name, 0.0) + value.detach().float()
        n_batches += 1
        if not bar.disable:  # .item() waits for the device: only when there is a bar to show
            bar.set_postfix(loss=f"{total.item():.4f}")

    check.finish()
    names = list(sums)
    means = torch.stack([sums[k] for k in names]) / n_batches  # (T,)
    if is_distributed():  # logging only: a plain all_reduce is fine here
        dist.all_reduce(means)
        means /= dist.get_world_size()
    record: dict[str, float] = {"epoch": float(epoch + 1)}
    record.update({k: float(v) for k, v in zip(names, means.tolist(), strict=True)})
    for group in opt.optimizer.param_groups:  # lr in effect at the end of the epoch
        record[f"lr_{group['name'].split('_')[0]}"] = float(group["lr"])
    model = opt.objective.model
    if hasattr(model, "logit_scale"):
        record["logit_scale"] = float(model.logit_scale.detach().exp())
    record["time_s"] = time.perf_counter() - t0
    return record

"""The training loop: epochs of steps, with evaluation, checkpoints and resume around them.

One loop for both models: they differ only in the loss modules they pass (each returns a dict of
already weighted ``loss/<name>`` terms that the loop sums, and detached ``stat/<name>`` values it
only logs), in what reaches the losses as ``labels`` (AffectVLM: the ground-truth classes;
SMILE-VLM: ``loss_labels="prompt_ids"``, the pseudo-label of each sample's prompt, so no ground
truth enters self-supervised training) and in their epoch hooks (SMILE-VLM refreshes its
pseudo-label prompts in ``before_epoch``).

Reproducibility: every epoch reseeds torch from ``(seed, epoch, rank)`` and the data order comes
from ``DistributedSampler.set_epoch``, so the same config gives bit-identical weights on CPU, and a
run resumed from an epoch checkpoint continues exactly as the uninterrupted run would
(:mod:`facevlm.trainer.resume`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from pathlib import Path

import torch
import torch.distributed as dist
import torch.utils.deterministic
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from facevlm.models.checkpoints import (
    IDENTITY_FILE,
    Stateful,
    checkpoint_path,
    differing_parts,
    epoch_checkpoints,
    latest_checkpoint,
    load_checkpoint,
    read_identity,
    rng_state,
    save_checkpoint,
    write_identity,
)
from facevlm.models.multiview_data import MultiviewBatch, make_loader
from facevlm.trainer.config import TrainConfig, TrainHistory
from facevlm.trainer.distributed import all_ranks, is_distributed, rank, resolve_device
from facevlm.trainer.execution import ExecutionConfig
from facevlm.trainer.objective import as_module_list
from facevlm.trainer.precision import CudaMathSettings
from facevlm.trainer.prefetch import augmented_batches, loaded_ahead, prefetch_enabled
from facevlm.trainer.resume import checkpoint_identity, dataset_state, restore_states
from facevlm.trainer.step import LossCheck, Optimisation

logger = logging.getLogger(__name__)

BeforeEpoch = Callable[[int, nn.Module], None]  # (epoch 0-based, model) -> None

Evaluate = Callable[[nn.Module, int], Mapping[str, float]]  # (model, epoch) -> metrics

OnEpochEnd = Callable[[int, dict[str, float], nn.Module], None]  # (epoch, record, model)


def train(
    model: nn.Module,
    loss_modules: nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module],
    train_data: DataLoader | Dataset,
    cfg: TrainConfig,
    *,
    execution: ExecutionConfig | None = None,
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
        cfg: what the run computes; all of it is part of the run's checkpoint key.
        execution: how the run executes (device, threads, loader workers, compilation,
            checkpoints, resume, progress); the defaults when ``None``. Part of no key.
        augment: batch augmentation ``augment(images (B, V, 3, H, W), generator=g)``, applied on
            the training device before the forward pass (e.g. ``MixedViewAugmentation``).
        before_epoch: ``before_epoch(epoch, model)`` at the start of every epoch (0-based), e.g.
            SMILE-VLM's pseudo-label refresh (it may call ``dataset.set_prompts``; do not use
            persistent DataLoader workers then).
        evaluate: ``evaluate(model, epoch) -> {metric: value}`` after every
            ``execution.eval_every``-th epoch and the last, model in eval mode; recorded as
            ``eval/<metric>`` (absent from the other epochs' records). Runs on every rank under
            DDP.
        on_epoch_end: ``on_epoch_end(epoch, record, model)`` after the record is complete.
        extra_state: anything else a resumed run needs (``state_dict()`` / ``load_state_dict()``),
            e.g. SMILE-VLM's log of pseudo-label refreshes; saved in every checkpoint. The
            dataset's own state (its prompts) is saved when it has ``state_dict()``.

    Returns:
        The :class:`TrainHistory` (including the epochs of a resumed checkpoint).
    """
    execution = ExecutionConfig() if execution is None else execution
    device = resolve_device(execution.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if isinstance(augment, nn.Module):
        augment.to(device)  # its constant buffers (colour matrices) on the batch's device
    loader = (
        train_data
        if isinstance(train_data, DataLoader)
        else _default_loader(train_data, cfg, execution, device)
    )
    if is_distributed() and not isinstance(loader.sampler, DistributedSampler):
        raise ValueError("under DDP the DataLoader needs a DistributedSampler (see make_loader)")
    if len(loader) == 0:
        raise ValueError("the training loader yields no batches")

    losses = as_module_list(loss_modules)
    identity, described = checkpoint_identity(model, losses, loader.dataset, augment, cfg)
    run_dir = None
    if execution.checkpoint_dir is not None:
        run_dir = Path(execution.checkpoint_dir)
        if execution.checkpoint_subfolder:
            run_dir = run_dir / f"run-{identity['key']}"
    opt = Optimisation.build(model, losses, cfg, execution, device, len(loader))
    if isinstance(augment, nn.Module):
        augment.to(device)  # its constant buffers (colour matrices) live with the images
    history, start_epoch = TrainHistory(checkpoint_dir=None if run_dir is None else str(run_dir)), 0
    if run_dir is not None and not execution.checkpoint_subfolder:
        _discard_another_run(run_dir, identity, read_identity(run_dir))
    resume = execution.resume
    if resume == "latest":
        if run_dir is None:
            raise ValueError("resume='latest' needs checkpoint_dir")
        resume = latest_checkpoint(run_dir)  # None: nothing to resume, start fresh
    state = None if resume is None else load_checkpoint(resume)  # on CPU: copied to the device
    if state is not None:
        differ = differing_parts(state.get("identity", {}), identity)
        if differ and execution.resume == "latest":  # a folder without identity.json
            _discard_another_run(run_dir, identity, state.get("identity", {}))
            state = None
        elif differ:  # a file named explicitly: the caller knows what it resumes from
            logger.warning(
                "%s was written by another run (it differs in %s); resuming from it as asked",
                resume,
                ", ".join(differ),
            )
    if run_dir is not None and rank() == 0:
        write_identity(run_dir, identity, described)
    if state is not None:
        start_epoch, history.epochs = opt.load(state)
        restore_states(state, loader.dataset, extra_state)
        logger.info("resumed from %s (%d of %d epochs done)", resume, start_epoch, cfg.epochs)

    deterministic_before = torch.are_deterministic_algorithms_enabled()
    fill_before = torch.utils.deterministic.fill_uninitialized_memory
    threads_before = torch.get_num_threads()
    if execution.cpu_threads is not None:
        torch.set_num_threads(execution.cpu_threads)
    if execution.deterministic and device.type == "cpu":
        torch.use_deterministic_algorithms(True)
        # NaN-filling every torch.empty makes CPU steps ~3x slower and adds no reproducibility
        torch.utils.deterministic.fill_uninitialized_memory = False
    math_settings = CudaMathSettings(device)
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
            record = _run_epoch(opt, execution, loader, epoch, augment, generator)
            if evaluate is not None and execution.evaluation_due(epoch + 1, cfg.epochs):
                opt.objective.eval()
                with torch.no_grad():
                    metrics = evaluate(model, epoch)
                opt.objective.train()
                record.update({f"eval/{k}": float(v) for k, v in metrics.items()})
            history.epochs.append(record)
            if run_dir is not None and execution.checkpoint_due(epoch + 1, cfg.epochs):
                state = opt.state(epoch + 1, history)
                rngs = all_ranks(rng_state())  # collective: every rank takes part
                if rank() == 0:
                    state.update(
                        identity=identity,
                        rng=rngs,
                        dataset=dataset_state(loader.dataset),
                        extra=None if extra_state is None else extra_state.state_dict(),
                    )
                    save_checkpoint(
                        checkpoint_path(run_dir, epoch + 1), state, execution.keep_checkpoints
                    )
            if on_epoch_end is not None:
                on_epoch_end(epoch, record, model)
    finally:
        math_settings.__exit__(None, None, None)
        torch.use_deterministic_algorithms(deterministic_before)
        torch.utils.deterministic.fill_uninitialized_memory = fill_before
        torch.set_num_threads(threads_before)
    return history


def _discard_another_run(folder: Path, identity: dict, found: dict) -> None:
    """In a folder the caller gave as this run's own, another run's checkpoints (``found``:
    their identity) are removed, not resumed: continuing them would give neither run's weights,
    and kept among this run's they would be pruned or resumed in its place. Rank 0 removes
    them once every rank has looked."""
    differ = differing_parts(found, identity) if found else []
    if not differ:
        return
    logger.warning(
        "%s holds the checkpoints of another run (it differs in %s): starting over",
        folder,
        ", ".join(differ),
    )
    if is_distributed():
        dist.barrier()
    if rank() == 0:
        for _, path in epoch_checkpoints(folder):
            path.unlink()
        (folder / IDENTITY_FILE).unlink(missing_ok=True)
    if is_distributed():
        dist.barrier()


def _default_loader(
    dataset: Dataset, cfg: TrainConfig, execution: ExecutionConfig, device: torch.device
) -> DataLoader:
    if device.type == "cuda" and hasattr(dataset, "uint8_batches"):
        dataset.uint8_batches = True  # a quarter of the bytes to copy; float made on the GPU
    return make_loader(
        dataset,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        num_workers=execution.num_workers,
        pin_memory=device.type == "cuda",  # page-locked batches: asynchronous host-to-GPU copies
        shard=True,
    )


def _run_epoch(
    opt: Optimisation,
    execution: ExecutionConfig,
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
    if opt.device.type == "cuda" and execution.num_workers == 0:
        loader = loaded_ahead(loader)  # host loading overlaps the asynchronous GPU step
    bar = tqdm(
        loader,
        total=n_expected,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        leave=False,
        disable=not (execution.progress and rank() == 0),
    )
    prefetch = prefetch_enabled(execution, opt.device)
    check = LossCheck(epoch, deferred=opt.device.type == "cuda")
    for batch, images in augmented_batches(bar, opt.device, augment, generator, prefetch):
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

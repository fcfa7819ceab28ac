"""One optimisation step: forward, loss check, backward, clipping, update, schedule, clamp.

:class:`Optimisation` holds what a step needs (the objective and its DDP wrapper, the optimiser,
the schedule, the grad scaler, the autocast dtype) and what a checkpoint saves of it;
:class:`LossCheck` stops the run on a non-finite loss, naming the epoch and batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from facevlm.models.losses import loss_terms_total
from facevlm.trainer.config import TrainConfig, TrainHistory
from facevlm.trainer.distributed import is_distributed
from facevlm.trainer.execution import ExecutionConfig
from facevlm.trainer.objective import Objective
from facevlm.trainer.precision import choose_amp_dtype
from facevlm.trainer.schedule import param_groups, warmup_cosine


@dataclass
class Optimisation:
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
        execution: ExecutionConfig,
        device: torch.device,
        steps_per_epoch: int,
    ) -> Optimisation:
        """What ``cfg`` computes, on ``device``; ``execution`` says whether the objective is
        compiled and how DDP treats parameters no loss term reaches."""
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
                find_unused_parameters=execution.find_unused_parameters,
            )
        if execution.compile:
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
        its :class:`LossCheck`, which raises on a non-finite loss)."""
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
            clip_grad_norm(self.params, self.cfg.grad_clip_norm)
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


class LossCheck:
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


def clip_grad_norm(params: Sequence[nn.Parameter], max_norm: float) -> None:
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

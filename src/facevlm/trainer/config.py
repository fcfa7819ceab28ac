"""What a training run computes: :class:`TrainConfig`, and its per-epoch history.

Every field of :class:`TrainConfig` decides the result (the weights and the records of a run), and
the whole of it is part of every key that names a run (checkpoint folders, training runs, fold
results). How the run executes (device, threads, loader workers, prefetching, compilation,
processes, checkpoints, progress) is :class:`~facevlm.trainer.execution.ExecutionConfig`, apart,
so the same run resumes whichever way it is launched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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
    clamp_logit_scale: bool = True  # clamp log(1/temperature) to [0, ln 100] after each step
    loss_labels: str = "labels"  # what losses get as labels: labels | prompt_ids | none
    seed: int = 0  # seeds data order, augmentation, prompt draws
    # what identifies the run beyond what the loop sees (the cross-validation runner: its
    # bundle and numerical path): part of the checkpoint identity
    run_key: str | None = None

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
        """``{metric: [value per epoch]}`` (e.g. for an MLflow metrics history); NaN in the
        epochs that did not record a metric (``eval/*`` between two evaluations)."""
        names = dict.fromkeys(k for rec in self.epochs for k in rec)
        return {k: [rec.get(k, math.nan) for rec in self.epochs] for k in names}

    @property
    def last(self) -> dict[str, float]:
        return self.epochs[-1] if self.epochs else {}

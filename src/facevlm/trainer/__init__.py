"""The shared training loop of AffectVLM and SMILE-VLM: torch only, launched alone or by torchrun.

The recipe (docs/methods.md): AdamW with weight decay 0.05, a lower learning rate for the
pretrained CLIP towers than for new heads (fusion, learnable loss parameters), linear warm-up then
cosine decay per step, gradient clipping, mixed precision on CUDA only, and the CLIP logit scale
clamped to [0, ln 100] after each step.

Devices: CUDA when present (``device: auto``), with TF32 matmuls, bf16 autocast on Ampere or newer
and fp16 autocast with a gradient scaler on older GPUs, pinned host memory and ``num_workers``
loader processes, and ``compile: true`` for ``torch.compile``; CPU otherwise. The CPU path is the
same code with autocast and scaler switched off.

One job per module:

- :mod:`~facevlm.trainer.config`: what a run computes (``TrainConfig``: every field is part of
  the run's key) and its per-epoch history;
- :mod:`~facevlm.trainer.execution`: how a run executes (``ExecutionConfig``: device, threads,
  loader workers, compilation, processes, checkpoints, progress; part of no key);
- :mod:`~facevlm.trainer.loop`: :func:`train`, the epochs around the steps;
- :mod:`~facevlm.trainer.step`: one optimisation step and the non-finite loss check;
- :mod:`~facevlm.trainer.objective`: the model and its losses as one module (what DDP wraps);
- :mod:`~facevlm.trainer.schedule`: the AdamW parameter groups and the learning-rate schedule;
- :mod:`~facevlm.trainer.precision`: autocast dtype and TF32 on CUDA;
- :mod:`~facevlm.trainer.distributed`: the process group from torchrun's environment;
- :mod:`~facevlm.trainer.prefetch`: loading and augmenting the next batch during the step;
- :mod:`~facevlm.trainer.resume`: the checkpoint identity and what a checkpoint restores.

Single process:
    >>> history = train(
    ...     model, [loss], dataset, TrainConfig(epochs=10),
    ...     execution=ExecutionConfig(checkpoint_dir="ckpt"),
    ... )
Multi-GPU (the entry script calls ``setup_distributed()`` first, then ``train`` as above):
    $ torchrun --nproc_per_node=4 my_train_script.py
"""

from __future__ import annotations

from facevlm.trainer.config import TrainConfig, TrainHistory
from facevlm.trainer.distributed import resolve_device, setup_distributed
from facevlm.trainer.execution import ExecutionConfig
from facevlm.trainer.loop import train

__all__ = [
    "ExecutionConfig",
    "TrainConfig",
    "TrainHistory",
    "resolve_device",
    "setup_distributed",
    "train",
]

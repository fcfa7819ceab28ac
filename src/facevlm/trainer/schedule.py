"""The optimiser's recipe: AdamW parameter groups and the per-step learning-rate schedule.

The pretrained CLIP towers get a lower learning rate than the new heads (view fusion, learnable
loss parameters); biases, norm gains and scalars get no weight decay; the learning rate warms up
linearly and then decays on a cosine (docs/methods.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from facevlm.trainer.config import TrainConfig

#: Parameter-name prefix of the pretrained towers inside the objective (``MultiviewCLIP.clip``).
BACKBONE_PREFIX = "model.clip."


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

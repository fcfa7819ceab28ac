"""The run shared by the single-process and the torchrun side of test_training_ddp.py."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facevlm.models.backbone import BackboneConfig, get_tokenizer
from facevlm.models.multiview_clip import MultiviewCLIPConfig, build_multiview_clip
from facevlm.models.multiview_data import MultiviewDataset
from facevlm.trainer import ExecutionConfig, TrainConfig

#: How both sides run: no progress bar.
EXECUTION = ExecutionConfig(progress=False)


class CosineToPrompt(nn.Module):
    """A per-sample loss (mean of 1 - cos(fused, text)) with a learnable scale: its global-batch
    mean is the mean of equal-sized per-rank means, so DDP must reproduce one process exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, emb, labels=None):
        cos = (emb.fused * emb.text).sum(dim=1)  # (B,)
        return {"loss/cos": (self.scale * (1 - cos)).mean() + (self.scale - 2) ** 2}


def make_setup(batch_size: int):
    torch.manual_seed(0)
    model, _ = build_multiview_clip(
        MultiviewCLIPConfig(BackboneConfig("facevlm-tiny", None), fusion="attention")
    )
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (16, 3, 64, 64, 3), dtype=np.uint8)
    prompts = [f"face number {i % 4}" for i in range(16)]
    dataset = MultiviewDataset(
        views, prompts=prompts, tokenizer=get_tokenizer("facevlm-tiny"), image_size=64
    )
    cfg = TrainConfig(
        epochs=1,
        batch_size=batch_size,
        lr_backbone=1e-3,
        lr_head=1e-2,
        warmup_epochs=0,
    )
    return model, CosineToPrompt(), dataset, cfg

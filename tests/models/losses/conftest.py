"""Shared fixtures for the loss tests: hand-made ``MultiviewEmbeddings`` without a model."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from facevlm.models.embeddings import MultiviewEmbeddings

CLIP_LOGIT_SCALE = math.log(1 / 0.07)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ddp: spawns a real two-process gloo group on CPU (deselect: -m 'not ddp')"
    )


def embeddings_from_raw(
    views_raw: torch.Tensor,
    text_raw: torch.Tensor | None = None,
    logit_scale: torch.Tensor | float = CLIP_LOGIT_SCALE,
) -> MultiviewEmbeddings:
    """The contract's bundle from raw views (B, V, D) and raw text (B, D): L2-normalised copies
    and a mean-pooled fused embedding, all differentiable w.r.t. the raw inputs."""
    fused_raw = views_raw.mean(dim=1)
    return MultiviewEmbeddings(
        views=F.normalize(views_raw, dim=-1),
        fused=F.normalize(fused_raw, dim=-1),
        text=None if text_raw is None else F.normalize(text_raw, dim=-1),
        views_raw=views_raw,
        fused_raw=fused_raw,
        text_raw=text_raw,
        logit_scale=torch.as_tensor(logit_scale, dtype=torch.float32),
    )


@pytest.fixture
def make_embeddings() -> Callable[..., MultiviewEmbeddings]:
    return embeddings_from_raw


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)

"""Shared fixtures of the model-core tests: the tiny open_clip backbone and a toy dataset.

Tests never download weights: tests/conftest.py switches the hub off.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facevlm.scans.labels import BASIC_EMOTIONS

TINY = "facevlm-tiny"
TINY_SIZE = 64  # image_size of facevlm-tiny


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from facevlm.models.backbone import get_tokenizer  # importing registers facevlm-tiny

    return get_tokenizer(TINY)


@pytest.fixture
def make_tiny_model():
    """Factory: a fresh random-init facevlm-tiny MultiviewCLIP, identical for equal seeds."""
    from facevlm.models.backbone import BackboneConfig
    from facevlm.models.multiview_clip import MultiviewCLIPConfig, build_multiview_clip

    def make(seed: int = 0, fusion: str = "learned", n_views: int = 3, **backbone):
        torch.manual_seed(seed)
        cfg = MultiviewCLIPConfig(
            backbone=BackboneConfig(name=TINY, pretrained=None, **backbone),
            fusion=fusion,
            n_views=n_views,
        )
        model, _ = build_multiview_clip(cfg)
        return model

    return make


@pytest.fixture
def toy_views():
    """Factory ``toy_views(n_per_class, n_views=3, size=64, seed=0) -> (views, labels)``."""
    return _toy_views


def _toy_views(n_per_class: int, n_views: int = 3, size: int = TINY_SIZE, seed: int = 0):
    """uint8 views (N, V, S, S, 3) whose colour/stripe pattern depends on the class, + labels."""
    rng = np.random.default_rng(seed)
    n_classes = len(BASIC_EMOTIONS)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((len(labels), n_views, size, size, 3), dtype=np.uint8)
    for i, c in enumerate(labels):
        colour = np.array([(c % 3) / 2, (c // 3), 0.5])  # class colour
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (c + 1) * (xx + yy))  # class frequency
        for v in range(n_views):
            img = colour * stripes[..., None] + 0.15 * rng.standard_normal((size, size, 3))
            images[i, v] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return images, labels

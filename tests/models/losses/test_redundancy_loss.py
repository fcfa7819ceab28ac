"""Cross-modal redundancy: off-diagonal Barlow Twins penalty between fused image and text."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses import CrossModalRedundancyLoss


def image_text(image_raw: torch.Tensor, text_raw: torch.Tensor) -> MultiviewEmbeddings:
    views = image_raw[:, None]
    return MultiviewEmbeddings(
        views, image_raw, text_raw, views, image_raw, text_raw, torch.tensor(0.0)
    )


def whitened(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(x - x.mean(0))
    return (q * n**0.5).float()


def test_matches_a_plain_reference_in_value_and_gradient(gen):
    image = torch.randn(12, 4, generator=gen, requires_grad=True)
    text = torch.randn(12, 4, generator=gen, requires_grad=True)
    got = CrossModalRedundancyLoss(lambda_offdiag=0.3)(image_text(image, text))["loss/red"]
    bn = nn.BatchNorm1d(4, affine=False).train()
    c = bn(image).T @ bn(text) / 12
    expected = 0.3 * sum(c[i, j] ** 2 for i in range(4) for j in range(4) if i != j)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    grads_got = torch.autograd.grad(got, (image, text))
    grads_expected = torch.autograd.grad(expected, (image, text))
    for g_got, g_expected in zip(grads_got, grads_expected, strict=True):
        assert g_got.abs().sum() > 0  # both towers receive gradient
        assert torch.allclose(g_got, g_expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("angle", [0.0, 0.3, math.pi / 4])
def test_text_rotated_from_a_whitened_image_gives_lambda_two_sin_squared(gen, angle):
    # text = image @ R(angle) is whitened too, so C = R: off-diagonals +-sin(angle)
    image = whitened(40, 2, gen)
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    loss = CrossModalRedundancyLoss(lambda_offdiag=1.0)(image_text(image, image @ rot))
    expected = 2 * math.sin(angle) ** 2  # up to the variance eps: C = R / (1 + 1e-5)
    assert loss["loss/red"].item() == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_ignores_the_diagonal(gen):
    # text = -image: C = -I, maximally anti-aligned, yet no off-diagonal redundancy
    image = whitened(20, 3, gen)
    loss = CrossModalRedundancyLoss()(image_text(image, -image))["loss/red"]
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_needs_text(gen):
    image = torch.randn(8, 3, generator=gen)
    with pytest.raises(ValueError, match="text"):
        CrossModalRedundancyLoss()(image_text(image, None))

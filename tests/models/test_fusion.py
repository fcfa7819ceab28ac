"""View fusion: shapes, convex weights, mean at initialisation, and that the weights can learn."""

from __future__ import annotations

import pytest
import torch

from facevlm.models.fusion import FUSION_MODES, ViewFusion

pytestmark = pytest.mark.usefixtures("one_thread")

B, V, D = 4, 3, 8


def make(mode: str) -> ViewFusion:
    return ViewFusion(mode, n_views=V, dim=D)


@pytest.mark.parametrize("mode", FUSION_MODES)
def test_shape_and_mean_at_init(mode):
    views = torch.randn(B, V, D)
    fused = make(mode)(views)
    assert fused.shape == (B, D)
    torch.testing.assert_close(fused, views.mean(dim=1))


@pytest.mark.parametrize("mode", FUSION_MODES)
def test_output_is_the_weighted_sum_with_convex_weights(mode):
    fusion = make(mode)
    with torch.no_grad():
        for p in fusion.parameters():
            p.normal_()
    views = torch.randn(B, V, D)
    w = fusion.weights(views)
    assert w.shape == (B, V)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(dim=1), torch.ones(B))
    torch.testing.assert_close(fusion(views), (w[..., None] * views).sum(dim=1))


def test_learned_weights_are_shared_and_attention_weights_are_per_sample():
    views = torch.randn(B, V, D)
    learned, attention = make("learned"), make("attention")
    with torch.no_grad():
        learned.view_logits.copy_(torch.tensor([2.0, 0.0, -1.0]))
        attention.query.normal_()
    wl = learned.weights(views)
    assert torch.equal(wl, wl[:1].expand(B, V))
    assert wl[0].argmax() == 0
    wa = attention.weights(views)
    assert not torch.allclose(wa, wa[:1].expand(B, V))


@pytest.mark.parametrize("mode", ["learned", "attention"])
def test_weights_learn_to_prefer_the_informative_view(mode):
    torch.manual_seed(0)
    fusion = make(mode)
    target = torch.randn(64, D)
    noise = torch.randn(64, V, D) * 2
    noise[:, 1] = 0  # view 1 is the target itself, the others are noisy
    views = target[:, None] + noise
    opt = torch.optim.Adam(fusion.parameters(), lr=0.05)
    for _ in range(200):
        loss = (fusion(views) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = fusion.weights(views).mean(dim=0)
    assert w[1] > 0.8


def test_errors():
    with pytest.raises(ValueError, match="unknown fusion mode"):
        ViewFusion("max", n_views=V, dim=D)
    with pytest.raises(ValueError, match="needs n_views"):
        ViewFusion("learned", dim=D)
    with pytest.raises(ValueError, match="needs dim"):
        ViewFusion("attention", n_views=V)
    with pytest.raises(ValueError, match="built for 3 views"):
        make("learned")(torch.randn(B, 2, D))
    with pytest.raises(ValueError, match=r"\(B, V, D\)"):
        make("mean")(torch.randn(B, D))

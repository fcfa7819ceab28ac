"""SMILE-VLM: L = w_bt L_BT + lambda1 L_vl + lambda2 L_red, each term switchable for ablations."""

from __future__ import annotations

import math

import pytest
import torch

from facevlm.models.losses import (
    ClipInfoNCELoss,
    CrossModalRedundancyLoss,
    MultiviewBarlowTwinsLoss,
    SmileVLMLoss,
    loss_terms_total,
)

PSEUDO = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])  # pseudo-prompt ids, never ground truth


@pytest.fixture
def emb(make_embeddings, gen):
    return make_embeddings(torch.randn(8, 3, 6, generator=gen), torch.randn(8, 6, generator=gen))


def test_is_the_weighted_sum_of_its_three_components(emb):
    out = SmileVLMLoss(lambda1=0.7, lambda2=3.0, lambda_offdiag=0.01, w_bt=2.0)(emb, PSEUDO)
    bt = MultiviewBarlowTwinsLoss(lambda_offdiag=0.01)(emb)["loss/bt"]
    vl = ClipInfoNCELoss(targets="labels", view_weight=1.0)(emb, PSEUDO)["loss/infonce"]
    red = CrossModalRedundancyLoss(lambda_offdiag=0.01)(emb)["loss/red"]
    assert out["loss/bt"].item() == pytest.approx(2.0 * bt.item(), rel=1e-6)
    assert out["loss/vl"].item() == pytest.approx(0.7 * vl.item(), rel=1e-6)
    assert out["loss/red"].item() == pytest.approx(3.0 * red.item(), rel=1e-6)
    assert loss_terms_total(out).item() == pytest.approx(
        (2.0 * bt + 0.7 * vl + 3.0 * red).item(), rel=1e-6
    )


def test_vl_aligns_the_fused_and_each_single_view(emb):
    out = SmileVLMLoss()(emb, PSEUDO)
    expected = (out["stat/vl_fused"] + out["stat/vl_views"]) / 2
    assert out["loss/vl"].item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(
    ("weights", "keys"),
    [
        ({"w_bt": 0.0}, {"loss/vl", "loss/red"}),
        ({"lambda1": 0.0}, {"loss/bt", "loss/red"}),
        ({"lambda2": 0.0}, {"loss/bt", "loss/vl"}),
    ],
)
def test_a_zero_weight_removes_its_term(emb, weights, keys):
    out = SmileVLMLoss(**weights)(emb, PSEUDO)
    assert {key for key in out if key.startswith("loss/")} == keys


def test_barlow_twins_alone_needs_neither_text_nor_labels(make_embeddings, gen):
    emb = make_embeddings(torch.randn(8, 3, 6, generator=gen))  # no text at all
    assert set(SmileVLMLoss(lambda1=0.0, lambda2=0.0)(emb)) == {"loss/bt"}


def test_label_aware_alignment_needs_pseudo_labels_unless_diagonal(emb):
    with pytest.raises(ValueError, match="labels"):
        SmileVLMLoss()(emb)
    assert "loss/vl" in SmileVLMLoss(infonce_targets="diagonal")(emb)


def test_gradients_reach_views_text_and_temperature(make_embeddings, gen):
    views = torch.randn(8, 3, 6, generator=gen, requires_grad=True)
    text = torch.randn(8, 6, generator=gen, requires_grad=True)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    loss_terms_total(SmileVLMLoss()(make_embeddings(views, text, scale), PSEUDO)).backward()
    for grad in (views.grad, text.grad, scale.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_a_barlow_twins_projector_adds_trainable_parameters_to_the_loss_only_when_asked(emb):
    assert list(SmileVLMLoss().parameters()) == []
    with_projector = SmileVLMLoss(bt_projector=(emb.views_raw.shape[-1], 12))
    params = list(with_projector.parameters())
    assert params and all(p.requires_grad for p in params)
    total = loss_terms_total(with_projector(emb, PSEUDO))
    grads = torch.autograd.grad(total, params)
    assert all(g.abs().sum() > 0 for g in grads)

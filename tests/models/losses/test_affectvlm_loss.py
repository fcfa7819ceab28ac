"""AffectVLM: multiview contrastive (L_mc), multiview triplet (L_mt), their shared margin."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses import (
    AffectVLMLoss,
    LearnableMargin,
    MultiviewContrastiveLoss,
    MultiviewTripletLoss,
    loss_terms_total,
)

LABELS = torch.tensor([0, 1, 0, 2, 1, 0])


def unit(*xs: float) -> torch.Tensor:
    return F.normalize(torch.tensor(xs, dtype=torch.float32), dim=0)


def two_sample_batch() -> MultiviewEmbeddings:
    """Sample 0 (label 0): views e1, e1. Sample 1 (label 1): views (e1 + e2)/sqrt2, e2."""
    views = torch.stack(
        [torch.stack([unit(1, 0), unit(1, 0)]), torch.stack([unit(1, 1), unit(0, 1)])]
    )
    fused = F.normalize(views.mean(1), dim=-1)
    return MultiviewEmbeddings(views, fused, None, views, fused, None, torch.tensor(0.0))


def reference_mc(emb: MultiviewEmbeddings, labels: torch.Tensor, alpha: float, prompts: bool):
    """L_mc written as plain loops over the pairs the docstring lists."""
    b, v, _ = emb.views.shape
    views = [(emb.views[i, a], int(labels[i])) for i in range(b) for a in range(v)]
    pairs = [(x @ y, lx == ly) for (x, lx), (y, ly) in itertools.combinations(views, 2)]
    if prompts:
        images = views + [(emb.fused[i], int(labels[i])) for i in range(b)]
        texts = [(emb.text[j], int(labels[j])) for j in range(b)]
        pairs += [(x @ t, lx == lt) for x, lx in images for t, lt in texts]
    pos = [1 - cos for cos, same in pairs if same]
    neg = [torch.clamp(cos - alpha, min=0) for cos, same in pairs if not same]
    return sum(pos) / max(len(pos), 1) + sum(neg) / max(len(neg), 1)


def reference_mt(emb: MultiviewEmbeddings, labels: torch.Tensor, alpha: float, mining: str):
    """L_mt as loops over explicit triplets (batch-all) or anchors (batch-hard)."""
    b, v, _ = emb.views.shape
    z = [emb.views[i, a] for i in range(b) for a in range(v)]
    lab = [int(labels[i]) for i in range(b) for _ in range(v)]
    terms = []
    for a in range(len(z)):
        d_pos = [((z[a] - z[p]) ** 2).sum() for p in range(len(z)) if p != a and lab[p] == lab[a]]
        d_neg = [((z[a] - z[n]) ** 2).sum() for n in range(len(z)) if lab[n] != lab[a]]
        if mining == "all":
            terms += [torch.clamp(dp - dn + alpha, min=0) for dp in d_pos for dn in d_neg]
        elif d_pos and d_neg:
            terms.append(torch.clamp(max(d_pos) - min(d_neg) + alpha, min=0))
    return sum(terms) / len(terms)


def test_margin_starts_at_init_and_is_softplus_of_an_unconstrained_parameter():
    margin = LearnableMargin(init=0.2)
    assert margin().item() == pytest.approx(0.2, abs=1e-6)
    with torch.no_grad():
        margin.raw.fill_(-5.0)
    assert margin().item() == pytest.approx(math.log1p(math.exp(-5.0)), rel=1e-5)


def test_mc_hand_computed_value():
    # positives: cos 1 and cos 1/sqrt2 -> mean (1 - 1/sqrt2) / 2
    # negatives: cos 1/sqrt2 twice, cos 0 twice -> mean (1/sqrt2 - 0.2) / 2; sum (1 - 0.2) / 2
    loss = MultiviewContrastiveLoss(LearnableMargin(0.2), include_prompt_pairs=False)
    out = loss(two_sample_batch(), torch.tensor([0, 1]))
    assert out["loss/mc"].item() == pytest.approx(0.4, abs=1e-6)


@pytest.mark.parametrize("mining", ["all", "hard"])
def test_mt_hand_computed_value(mining):
    # only anchor (e1 + e2)/sqrt2 violates: d_ap = d_an = 2 - sqrt2, so its hinge is alpha = 0.2
    # batch-all: 4 anchors x 1 positive x 2 negatives = 8 triplets, 2 of them at 0.2 -> 0.05
    # batch-hard: 1 of 4 anchors at 0.2 -> 0.05
    loss = MultiviewTripletLoss(LearnableMargin(0.2), mining=mining)
    out = loss(two_sample_batch(), torch.tensor([0, 1]))
    assert out["loss/mt"].item() == pytest.approx(0.05, abs=1e-6)


@pytest.mark.parametrize("prompts", [True, False])
def test_mc_matches_pairwise_loops(make_embeddings, gen, prompts):
    emb = make_embeddings(torch.randn(6, 3, 5, generator=gen), torch.randn(6, 5, generator=gen))
    loss = MultiviewContrastiveLoss(LearnableMargin(0.3), include_prompt_pairs=prompts)
    expected = reference_mc(emb, LABELS, 0.3, prompts)
    assert loss(emb, LABELS)["loss/mc"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("mining", ["all", "hard"])
def test_mt_matches_triplet_loops_in_value_and_gradient(make_embeddings, gen, mining):
    raw = torch.randn(6, 2, 4, generator=gen, requires_grad=True)
    loss = MultiviewTripletLoss(LearnableMargin(0.5), mining=mining)
    got = loss(make_embeddings(raw), LABELS)["loss/mt"]
    (grad_got,) = torch.autograd.grad(got, raw)
    expected = reference_mt(make_embeddings(raw), LABELS, loss.margin(), mining)
    (grad_expected,) = torch.autograd.grad(expected, raw)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(grad_got, grad_expected, rtol=1e-4, atol=1e-6)


def test_terms_are_zero_when_classes_are_separated_beyond_the_margin():
    # each class sits on its own axis, all views and prompts identical within a class
    axes = torch.eye(3)[torch.tensor([0, 1, 2, 0])]  # (B=4, D=3)
    views = axes[:, None].expand(4, 2, 3)
    emb = MultiviewEmbeddings(views, axes, axes, views, axes, axes, torch.tensor(0.0))
    out = AffectVLMLoss(w_infonce=0.0)(emb, torch.tensor([0, 1, 2, 0]))
    assert out["loss/mc"].item() == pytest.approx(0.0, abs=1e-6)  # cos 1 / cos 0 < alpha
    assert out["loss/mt"].item() == pytest.approx(0.0, abs=1e-6)  # 0 - 2 + 0.2 < 0


def test_invariant_to_a_common_rotation_and_to_the_order_of_samples(make_embeddings, gen):
    views, text = torch.randn(6, 3, 5, generator=gen), torch.randn(6, 5, generator=gen)
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen))
    perm = torch.randperm(6, generator=gen)
    loss = AffectVLMLoss()
    base = loss(make_embeddings(views, text), LABELS)
    rotated = loss(make_embeddings(views @ rotation, text @ rotation), LABELS)
    permuted = loss(make_embeddings(views[perm], text[perm]), LABELS[perm])
    for key in ("loss/mc", "loss/mt", "loss/infonce"):
        assert rotated[key].item() == pytest.approx(base[key].item(), rel=1e-4)
        assert permuted[key].item() == pytest.approx(base[key].item(), rel=1e-4)


def test_gradients_reach_margin_views_text_and_temperature(make_embeddings, gen):
    views = torch.randn(6, 3, 5, generator=gen, requires_grad=True)
    text = torch.randn(6, 5, generator=gen, requires_grad=True)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    loss = AffectVLMLoss()
    loss_terms_total(loss(make_embeddings(views, text, scale), LABELS)).backward()
    for grad in (loss.mc.margin.raw.grad, views.grad, text.grad, scale.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_l_mc_gives_the_text_tower_gradient_only_through_prompt_pairs(make_embeddings, gen):
    text = torch.randn(6, 5, generator=gen, requires_grad=True)
    emb = make_embeddings(torch.randn(6, 3, 5, generator=gen), text)
    MultiviewContrastiveLoss(include_prompt_pairs=True)(emb, LABELS)["loss/mc"].backward()
    assert text.grad is not None and text.grad.abs().sum() > 0
    out = MultiviewContrastiveLoss(include_prompt_pairs=False)(emb, LABELS)["loss/mc"]
    assert torch.autograd.grad(out, text, allow_unused=True)[0] is None


def test_margin_stays_positive_when_the_optimiser_drives_it_down(make_embeddings, gen):
    emb = make_embeddings(torch.randn(8, 3, 4, generator=gen))  # random: many violated triplets
    labels = torch.randint(3, (8,), generator=gen)
    margin = LearnableMargin(0.2)
    loss = MultiviewTripletLoss(margin)  # L_mt decreases with alpha: gradient pushes it down
    opt = torch.optim.AdamW(margin.parameters(), lr=1.0, weight_decay=0.0)
    for _ in range(30):
        opt.zero_grad()
        loss(emb, labels)["loss/mt"].backward()
        opt.step()
    assert 0 < margin().item() < 1e-3


def test_affectvlm_output_keys_weights_and_stat_margin(make_embeddings, gen):
    emb = make_embeddings(torch.randn(6, 3, 5, generator=gen), torch.randn(6, 5, generator=gen))
    unit_weights = AffectVLMLoss()(emb, LABELS)
    doubled = AffectVLMLoss(w_mc=2.0, w_mt=0.0, w_infonce=0.5)(emb, LABELS)
    assert set(unit_weights) == {"loss/mc", "loss/mt", "loss/infonce", "stat/margin"}
    assert set(doubled) == {"loss/mc", "loss/infonce", "stat/margin"}  # weight 0: not computed
    assert doubled["loss/mc"].item() == pytest.approx(2 * unit_weights["loss/mc"].item())
    assert doubled["loss/infonce"].item() == pytest.approx(
        0.5 * unit_weights["loss/infonce"].item()
    )
    assert not unit_weights["stat/margin"].requires_grad
    assert unit_weights["stat/margin"].item() == pytest.approx(0.2, abs=1e-6)


def test_margin_is_one_parameter_when_shared_and_two_otherwise(make_embeddings, gen):
    emb = make_embeddings(torch.randn(6, 3, 5, generator=gen), torch.randn(6, 5, generator=gen))
    shared, separate = AffectVLMLoss(), AffectVLMLoss(share_margin=False)
    assert len(list(shared.parameters())) == 1
    assert len(list(separate.parameters())) == 2
    assert {"stat/margin_mc", "stat/margin_mt"} <= set(separate(emb, LABELS))


def test_labels_are_required(make_embeddings, gen):
    emb = make_embeddings(torch.randn(4, 2, 3, generator=gen), torch.randn(4, 3, generator=gen))
    with pytest.raises(ValueError, match="labels"):
        AffectVLMLoss()(emb)

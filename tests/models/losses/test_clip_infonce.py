"""CLIP InfoNCE: closed-form values, loop reference, label-aware targets, single views."""

from __future__ import annotations

import math

import pytest
import torch

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses import ClipInfoNCELoss


def aligned(image: torch.Tensor, text: torch.Tensor, scale: float) -> MultiviewEmbeddings:
    """Bundle whose fused and only view are ``image`` (B, D), prompts ``text`` (B, D)."""
    log_scale = torch.tensor(math.log(scale))
    return MultiviewEmbeddings(image[:, None], image, text, image[:, None], image, text, log_scale)


def reference_infonce(image, text, scale, labels=None):
    """Cross-entropy written out row by row, both directions; targets uniform over same label."""
    n = image.shape[0]
    logits = scale * image @ text.T
    total = 0.0
    for direction in (logits, logits.T):
        for i in range(n):
            positives = [
                j for j in range(n) if (j == i if labels is None else labels[j] == labels[i])
            ]
            log_p = direction[i] - torch.logsumexp(direction[i], dim=0)
            total = total - sum(log_p[j] for j in positives) / len(positives)
    return total / (2 * n)


@pytest.mark.parametrize(("batch", "scale"), [(4, 1.0), (7, 2.0), (32, 5.0), (4, 1 / 0.07)])
def test_orthogonal_aligned_pairs_have_the_closed_form_value(batch, scale):
    # logits = scale * I: each row's CE is -log(e^s / (e^s + (B - 1))) = log(1 + (B - 1) e^-s)
    eye = torch.eye(batch)
    loss = ClipInfoNCELoss()(aligned(eye, eye, scale))["loss/infonce"]
    expected = math.log1p((batch - 1) * math.exp(-scale))
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)  # float32 logits ~ 1e-6


def test_uses_exp_of_the_log_logit_scale(make_embeddings, gen):
    views, text = torch.randn(5, 2, 4, generator=gen), torch.randn(5, 4, generator=gen)
    emb = make_embeddings(views, text, logit_scale=math.log(3.0))
    expected = reference_infonce(emb.fused, emb.text, 3.0)
    assert ClipInfoNCELoss()(emb)["loss/infonce"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_label_targets_match_the_row_by_row_reference(make_embeddings, gen):
    labels = torch.tensor([0, 1, 0, 0, 2, 1])
    emb = make_embeddings(torch.randn(6, 2, 4, generator=gen), torch.randn(6, 4, generator=gen))
    expected = reference_infonce(emb.fused, emb.text, math.exp(emb.logit_scale.item()), labels)
    got = ClipInfoNCELoss(targets="labels")(emb, labels)["loss/infonce"]
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_label_targets_closed_form_when_a_class_shares_one_prompt():
    # classes on orthogonal axes, m samples per class, images = their class prompt:
    # every row puts 1/m on each of m equal logits s -> log(m + (B - m) e^-s)
    scale, m, classes = 5.0, 3, 2
    labels = torch.arange(classes).repeat_interleave(m)
    prompts = torch.eye(classes)[labels]
    loss = ClipInfoNCELoss(targets="labels")(aligned(prompts, prompts, scale), labels)
    expected = math.log(m + (classes * m - m) * math.exp(-scale))
    assert loss["loss/infonce"].item() == pytest.approx(expected, rel=1e-5)


def test_label_targets_ignore_which_same_class_prompt_a_sample_got(make_embeddings, gen):
    # permuting prompts among samples of one class changes nothing for label-aware targets,
    # but changes the standard diagonal loss (that is what makes them differ)
    labels = torch.tensor([0, 0, 0, 1, 1])
    emb = make_embeddings(torch.randn(5, 2, 4, generator=gen), torch.randn(5, 4, generator=gen))
    swap = torch.tensor([2, 0, 1, 4, 3])  # a permutation within each class
    swapped = MultiviewEmbeddings(
        emb.views,
        emb.fused,
        emb.text[swap],
        emb.views_raw,
        emb.fused_raw,
        emb.text_raw[swap],
        emb.logit_scale,
    )
    by_label, diagonal = ClipInfoNCELoss(targets="labels"), ClipInfoNCELoss()
    assert by_label(swapped, labels)["loss/infonce"].item() == pytest.approx(
        by_label(emb, labels)["loss/infonce"].item(), rel=1e-6
    )
    assert diagonal(swapped)["loss/infonce"].item() != pytest.approx(
        diagonal(emb)["loss/infonce"].item(), rel=1e-3
    )


def test_view_alignment_averages_fused_and_single_view_terms(make_embeddings, gen):
    emb = make_embeddings(torch.randn(5, 3, 4, generator=gen), torch.randn(5, 4, generator=gen))
    scale = math.exp(emb.logit_scale.item())
    fused = reference_infonce(emb.fused, emb.text, scale)
    views = sum(reference_infonce(emb.views[:, v], emb.text, scale) for v in range(3)) / 3
    out = ClipInfoNCELoss(view_weight=2.0)(emb)
    assert out["loss/infonce"].item() == pytest.approx(((fused + 2 * views) / 3).item(), rel=1e-5)
    assert out["stat/infonce_views"].item() == pytest.approx(views.item(), rel=1e-5)
    assert not out["stat/infonce_fused"].requires_grad


def test_gradients_reach_images_text_and_temperature(make_embeddings, gen):
    views = torch.randn(5, 3, 4, generator=gen, requires_grad=True)
    text = torch.randn(5, 4, generator=gen, requires_grad=True)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    ClipInfoNCELoss(view_weight=1.0)(make_embeddings(views, text, scale))["loss/infonce"].backward()
    for grad in (views.grad, text.grad, scale.grad):
        assert grad is not None and grad.abs().sum() > 0


def test_missing_inputs_fail_loudly(make_embeddings, gen):
    emb = make_embeddings(torch.randn(4, 2, 3, generator=gen), torch.randn(4, 3, generator=gen))
    with pytest.raises(ValueError, match="labels"):
        ClipInfoNCELoss(targets="labels")(emb)
    with pytest.raises(ValueError, match="text"):
        ClipInfoNCELoss()(make_embeddings(torch.randn(4, 2, 3, generator=gen)))

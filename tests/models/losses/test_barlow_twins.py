"""Multiview Barlow Twins: reference implementation, whitened optimum, affine invariance."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from facevlm.models.losses import MultiviewBarlowTwinsLoss


def reference_barlow_twins(views_raw: torch.Tensor, lambd: float) -> torch.Tensor:
    """facebookresearch/barlowtwins' loss (BatchNorm1d without affine, in training mode) for
    each unordered pair of views, averaged over pairs."""
    n, v, d = views_raw.shape
    bn = nn.BatchNorm1d(d, affine=False).train()
    losses = []
    for a, b in itertools.combinations(range(v), 2):
        c = bn(views_raw[:, a]).T @ bn(views_raw[:, b]) / n
        on_diag = sum((1 - c[i, i]) ** 2 for i in range(d))
        off_diag = sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
        losses.append(on_diag + lambd * off_diag)
    return sum(losses) / len(losses)


def whitened(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """(n, d) with zero column means and biased covariance exactly the identity."""
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(x - x.mean(0))  # orthonormal columns, still orthogonal to ones
    return (q * n**0.5).float()


@pytest.mark.parametrize("n_views", [2, 3])
def test_matches_the_reference_implementation_in_value_and_gradient(make_embeddings, gen, n_views):
    raw = torch.randn(10, n_views, 5, generator=gen, requires_grad=True)
    got = MultiviewBarlowTwinsLoss(lambda_offdiag=0.1)(make_embeddings(raw))["loss/bt"]
    expected = reference_barlow_twins(raw, 0.1)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    (grad_got,) = torch.autograd.grad(got, raw)
    (grad_expected,) = torch.autograd.grad(expected, raw)
    assert torch.allclose(grad_got, grad_expected, rtol=1e-4, atol=1e-6)


def test_identical_whitened_views_give_zero_loss(make_embeddings, gen):
    z = whitened(32, 6, gen)
    views = torch.stack([z, z, 3.0 * z + 1.0], dim=1)  # (B, V=3, D); 3rd view: same after scaling
    loss = MultiviewBarlowTwinsLoss()(make_embeddings(views))["loss/bt"]
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_hand_computed_value_for_a_view_that_repeats_one_dimension(make_embeddings, gen):
    # view B copies view A's dimension 0 into all 4 dimensions, so C = [[1, 1, 1, 1], 0, 0, 0]:
    # diagonal (1 - 1)^2 + 3 * (1 - 0)^2 = 3, off-diagonal 3 entries of 1 -> 3 + lambda * 3
    z = whitened(64, 4, gen)
    views = torch.stack([z, z[:, :1].expand(64, 4)], dim=1)
    got = MultiviewBarlowTwinsLoss(lambda_offdiag=0.5)(make_embeddings(views))["loss/bt"]
    assert got.item() == pytest.approx(3 + 0.5 * 3, rel=1e-4)


def test_invariant_to_positive_per_dimension_affine_maps_of_either_view(make_embeddings, gen):
    raw = torch.randn(16, 2, 5, generator=gen)
    scale = torch.rand(5, generator=gen) * 3 + 0.5  # positive, per dimension
    shift = torch.randn(5, generator=gen) * 10
    loss = MultiviewBarlowTwinsLoss()
    base = loss(make_embeddings(raw))["loss/bt"].item()
    for view in (0, 1):
        moved = raw.clone()
        moved[:, view] = moved[:, view] * scale + shift
        assert loss(make_embeddings(moved))["loss/bt"].item() == pytest.approx(base, rel=1e-4)


def test_flipping_the_sign_of_a_dimension_is_not_invariant(make_embeddings, gen):
    z = whitened(16, 3, gen)
    flipped = z * torch.tensor([-1.0, 1.0, 1.0])
    loss = MultiviewBarlowTwinsLoss()(make_embeddings(torch.stack([z, flipped], dim=1)))["loss/bt"]
    assert loss.item() == pytest.approx(4.0, rel=1e-4)  # C_00 = -1 -> (1 - (-1))^2


def test_symmetric_in_the_order_of_views(make_embeddings, gen):
    raw = torch.randn(12, 3, 4, generator=gen)
    loss = MultiviewBarlowTwinsLoss()
    assert loss(make_embeddings(raw[:, [2, 0, 1]]))["loss/bt"].item() == pytest.approx(
        loss(make_embeddings(raw))["loss/bt"].item(), rel=1e-5
    )


def test_needs_two_views(make_embeddings, gen):
    with pytest.raises(ValueError, match="2 views"):
        MultiviewBarlowTwinsLoss()(make_embeddings(torch.randn(8, 1, 4, generator=gen)))


def reference_projector(raw: torch.Tensor, hidden: nn.Linear, out: nn.Linear) -> torch.Tensor:
    """Barlow Twins' projector per view: Linear, BatchNorm1d (no affine, training mode), ReLU,
    Linear."""
    bn = nn.BatchNorm1d(hidden.out_features, affine=False).train()
    return torch.stack([out(torch.relu(bn(hidden(raw[:, v])))) for v in range(raw.shape[1])], 1)


def test_with_a_projector_the_loss_is_the_reference_loss_of_the_projected_views(
    make_embeddings, gen
):
    torch.manual_seed(0)
    loss = MultiviewBarlowTwinsLoss(lambda_offdiag=0.1, projector=(5, 7))
    raw = torch.randn(10, 3, 5, generator=gen, requires_grad=True)

    got = loss(make_embeddings(raw))["loss/bt"]
    projected = reference_projector(raw, loss.projector.hidden, loss.projector.out)
    expected = reference_barlow_twins(projected, 0.1)

    assert projected.shape == (10, 3, 7)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert got.item() != pytest.approx(reference_barlow_twins(raw, 0.1).item(), rel=1e-3)
    params = [raw, *loss.projector.parameters()]
    for g, e in zip(
        torch.autograd.grad(got, params), torch.autograd.grad(expected, params), strict=True
    ):
        assert torch.allclose(g, e, rtol=1e-4, atol=1e-6)


def test_the_projector_is_shared_by_the_views_and_absent_unless_asked(make_embeddings, gen):
    assert MultiviewBarlowTwinsLoss().projector is None
    assert list(MultiviewBarlowTwinsLoss().parameters()) == []
    z = torch.randn(16, 1, 4, generator=gen)
    same = make_embeddings(torch.cat([z, z], dim=1))  # two identical views
    loss = MultiviewBarlowTwinsLoss(lambda_offdiag=0.0, projector=(4, 6))
    assert loss(same)["loss/bt"].item() == pytest.approx(0.0, abs=1e-5)  # C_ii = 1 for all i

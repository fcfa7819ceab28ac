"""Multiview Barlow Twins: decorrelation between the views of one sample (SMILE-VLM, term L_BT).

Reference: Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
ICML 2021 (facebookresearch/barlowtwins); applied to every pair of rendered views as in SMILE-VLM
(Behzad, arXiv 2506.01203). For views A and B of the same B samples::

    z = (z - mean_batch) / sqrt(var_batch + eps)        # per view, per dimension
    C = z_A^T z_B / N                                   # (D, D) cross-correlation
    L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2

averaged over the V(V-1)/2 unordered view pairs (L is symmetric in A and B because C_BA = C_AB^T).
The standardisation is BatchNorm1d(affine=False) in training mode, i.e. the *biased* batch
variance, exactly as the reference code: identical views then give C_ii = 1, not (N-1)/N.

Distributed: standardisation and C need statistics of the global batch. Rather than gathering
features (N x D per view), each rank reduces *sums* with ``all_reduce_with_grad``: the sum of
features (mean), the sum of squared deviations (variance) and the local ``z_A^T z_B`` (C).
This is exactly the full-batch computation, costs O(V D^2) communication independent of the batch,
and carries gradients across ranks (see ``distributed.py`` for the gradient convention).
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import nn

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses.distributed import all_reduce_with_grad, global_count


def batch_standardize(
    z: torch.Tensor, eps: float = 1e-5, gather_distributed: bool = True
) -> tuple[torch.Tensor, int]:
    """Standardise ``z`` (n, ..., D) over dim 0 with global-batch statistics.

    Returns the standardised tensor (same shape, float32) and the global sample count N, which
    the caller needs to turn summed cross-products into correlations.
    """
    z = z.float()  # correlations in half precision lose the 1 - C_ii signal
    reduce = all_reduce_with_grad if gather_distributed else (lambda t: t)
    n_total = global_count(z.shape[0], z.device) if gather_distributed else z.shape[0]
    mean = reduce(z.sum(dim=0)) / n_total  # (..., D)
    centred = z - mean  # (n, ..., D)
    var = reduce(centred.pow(2).sum(dim=0)) / n_total  # (..., D), biased like BatchNorm
    return centred / torch.sqrt(var + eps), n_total


def cross_correlation(
    z_a: torch.Tensor, z_b: torch.Tensor, n_total: int, gather_distributed: bool = True
) -> torch.Tensor:
    """Cross-correlation of standardised ``z_a`` (n, ..., Da) and ``z_b`` (n, ..., Db) over dim 0.

    Leading batch dim is summed (and reduced over ranks), any middle dims are kept as a batch of
    matrices: (n, P, D) x (n, P, D) -> (P, D, D); (n, D) x (n, D) -> (D, D).
    """
    local = torch.einsum("n...i,n...j->...ij", z_a, z_b)  # (..., Da, Db), sum over local samples
    if gather_distributed:
        local = all_reduce_with_grad(local)
    return local / n_total


def off_diagonal_sq_sum(c: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal entries of each square matrix in ``c`` (..., D, D) -> (...)."""
    return c.pow(2).sum(dim=(-2, -1)) - torch.diagonal(c, dim1=-2, dim2=-1).pow(2).sum(dim=-1)


class BarlowTwinsProjector(nn.Module):
    """The projector ("expander") that Barlow Twins puts between the representation and its
    loss: Linear -> batch standardisation -> ReLU -> Linear, applied to every view.

    Why: the loss asks for ``D`` decorrelated, view-invariant dimensions. Applied to the
    embeddings themselves it reshapes the very features that the probe and zero-shot read; the
    paper computes it on a projection and keeps the representation before it. The
    standardisation is :func:`batch_standardize` (BatchNorm without affine parameters, global
    batch under DDP), so the projector adds no cross-rank difference.
    """

    def __init__(
        self, in_dim: int, out_dim: int, eps: float = 1e-5, gather_distributed: bool = True
    ) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_dim, out_dim)
        self.out = nn.Linear(out_dim, out_dim)
        self.eps = eps
        self.gather_distributed = gather_distributed

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hidden, _ = batch_standardize(self.hidden(z.float()), self.eps, self.gather_distributed)
        return self.out(torch.relu(hidden))


class MultiviewBarlowTwinsLoss(nn.Module):
    """Barlow Twins between every pair of views of a sample, on the raw (unnormalised) views.

    Args:
        lambda_offdiag: weight of the redundancy (off-diagonal) term; 5e-3 as in Barlow Twins.
        eps: added to the batch variance before the square root (BatchNorm's default).
        gather_distributed: under DDP, use global-batch statistics via gradient-carrying
            all-reduces (a no-op without a process group).

    Example:
        >>> import torch
        >>> from facevlm.models.embeddings import MultiviewEmbeddings
        >>> raw = torch.randn(32, 3, 16)  # B=32 samples, V=3 views, D=16
        >>> emb = MultiviewEmbeddings(views=raw, fused=raw[:, 0], text=None, views_raw=raw,
        ...                           fused_raw=raw[:, 0], text_raw=None,
        ...                           logit_scale=torch.tensor(0.0))
        >>> sorted(MultiviewBarlowTwinsLoss()(emb))
        ['loss/bt']
    """

    def __init__(
        self,
        lambda_offdiag: float = 5e-3,
        eps: float = 1e-5,
        gather_distributed: bool = True,
        projector: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.lambda_offdiag = lambda_offdiag
        self.eps = eps
        self.gather_distributed = gather_distributed
        self.projector = (
            None if projector is None else BarlowTwinsProjector(*projector, eps, gather_distributed)
        )

    def forward(
        self, emb: MultiviewEmbeddings, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``labels`` is ignored (self-supervised); returns ``{"loss/bt": scalar}``."""
        return {"loss/bt": self.views_loss(emb.views_raw)}

    def views_loss(self, views_raw: torch.Tensor) -> torch.Tensor:
        """Mean Barlow Twins loss over the view pairs of ``views_raw`` (B, V, D)."""
        n_views = views_raw.shape[1]
        if n_views < 2:
            raise ValueError(
                f"Barlow Twins needs at least 2 views per sample, got {n_views}; for a "
                "single-view run give the view twice (data.views: [0, 0]) so that two "
                "independently augmented copies are decorrelated"
            )
        if self.projector is not None:
            views_raw = self.projector(views_raw)
        z, n_total = batch_standardize(views_raw, self.eps, self.gather_distributed)  # (B, V, D)
        idx_a, idx_b = map(list, zip(*combinations(range(n_views), 2), strict=True))
        # One batched (P, D, D) correlation, so DDP needs a single all-reduce for all P pairs.
        c = cross_correlation(z[:, idx_a], z[:, idx_b], n_total, self.gather_distributed)
        on_diag = (1.0 - torch.diagonal(c, dim1=-2, dim2=-1)).pow(2).sum(dim=-1)  # (P,)
        off_diag = off_diagonal_sq_sum(c)  # (P,)
        return (on_diag + self.lambda_offdiag * off_diag).mean()

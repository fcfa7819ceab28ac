"""Cross-modal redundancy minimisation between image and text embeddings (SMILE-VLM, L_red).

Reference: SMILE-VLM (Behzad, arXiv 2506.01203) names the term but its formula was not reachable;
docs/methods.md DECIDED it as the off-diagonal half of Barlow Twins (Zbontar et al., ICML 2021)
applied to the image-text cross-correlation::

    C = standardise(fused_raw)^T standardise(text_raw) / N        # (D, D)
    L_red = lambda * sum_{i != j} C_ij^2

Only the off-diagonal is penalised: pulling matched image and text together is the InfoNCE
term's job; this term asks that *different* dimensions of the two modalities carry
non-redundant information. The ``lambda`` is the same Barlow Twins off-diagonal weight (5e-3),
so ``SmileVLMLoss``'s ``lambda2`` weighs L_red against L_BT on the same scale.
"""

from __future__ import annotations

import torch
from torch import nn

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses.barlow_twins import (
    batch_standardize,
    cross_correlation,
    off_diagonal_sq_sum,
)


class CrossModalRedundancyLoss(nn.Module):
    """Off-diagonal Barlow Twins penalty on the fused-image x text cross-correlation matrix.

    Args:
        lambda_offdiag: weight of the off-diagonal sum (Barlow Twins' 5e-3).
        eps: added to the batch variance before the square root.
        gather_distributed: under DDP, global-batch statistics through gradient-carrying
            all-reduces (a no-op without a process group).

    Example:
        >>> import torch
        >>> from facevlm.models.embeddings import MultiviewEmbeddings
        >>> img, txt = torch.randn(32, 16), torch.randn(32, 16)
        >>> emb = MultiviewEmbeddings(views=img[:, None], fused=img, text=txt,
        ...                           views_raw=img[:, None], fused_raw=img, text_raw=txt,
        ...                           logit_scale=torch.tensor(0.0))
        >>> CrossModalRedundancyLoss()(emb)["loss/red"].shape
        torch.Size([])
    """

    def __init__(
        self, lambda_offdiag: float = 5e-3, eps: float = 1e-5, gather_distributed: bool = True
    ) -> None:
        super().__init__()
        self.lambda_offdiag = lambda_offdiag
        self.eps = eps
        self.gather_distributed = gather_distributed

    def forward(
        self, emb: MultiviewEmbeddings, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``labels`` is ignored; returns ``{"loss/red": scalar}``. Needs ``emb.text_raw``."""
        if emb.text_raw is None:
            raise ValueError("CrossModalRedundancyLoss needs text embeddings (emb.text_raw)")
        z_img, n_total = batch_standardize(emb.fused_raw, self.eps, self.gather_distributed)
        z_txt, _ = batch_standardize(emb.text_raw, self.eps, self.gather_distributed)  # (B, D)
        c = cross_correlation(z_img, z_txt, n_total, self.gather_distributed)  # (D, D)
        return {"loss/red": self.lambda_offdiag * off_diagonal_sq_sum(c)}

"""View fusion: V view embeddings of one sample -> one multiview embedding.

The papers do not say how AffectVLM fuses its views (docs/methods.md, DECIDED): ``mean``
pooling is the
simple option, ``learned`` is a softmax over one learnable scalar per view (a global, view-aware
weighting, e.g. "the frontal view matters more"), ``attention`` is attention pooling with a learned
query (weights computed per sample from the view embeddings themselves, plus the same per-view
scalar as a bias: content alone cannot tell the frontal view from the others).

Every mode outputs a convex combination of the input view embeddings, so the fused embedding stays
in the joint image-text space and can be compared with prompts zero-shot; and every mode starts as
plain mean pooling (zero-initialised logits and query), so training only moves away from the mean
when that lowers the loss.

    >>> fusion = ViewFusion("learned", n_views=3, dim=512)
    >>> fused = fusion(views)   # (B, 3, 512) -> (B, 512)
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

FusionMode = Literal["mean", "learned", "attention"]
FUSION_MODES: tuple[str, ...] = ("mean", "learned", "attention")


class ViewFusion(nn.Module):
    """Fuse ``(B, V, D)`` view embeddings into ``(B, D)``.

    Args:
        mode: ``mean`` | ``learned`` | ``attention``.
        n_views: V, needed by ``learned`` (one logit per view) and used by ``attention`` (per-view
            score bias; without it attention is permutation-invariant); checked at forward time.
        dim: D, needed by ``attention`` (key projection and query).
    """

    def __init__(
        self, mode: FusionMode = "mean", n_views: int | None = None, dim: int | None = None
    ):
        super().__init__()
        if mode not in FUSION_MODES:
            raise ValueError(f"unknown fusion mode {mode!r}; expected one of {FUSION_MODES}")
        self.mode = mode
        self.n_views = n_views
        if mode == "learned":
            if n_views is None:
                raise ValueError("fusion mode 'learned' needs n_views")
            self.view_logits = nn.Parameter(torch.zeros(n_views))  # (V,) softmax -> mean at init
        elif mode == "attention":
            if dim is None:
                raise ValueError("fusion mode 'attention' needs dim")
            self.key = nn.Linear(dim, dim)
            self.query = nn.Parameter(torch.zeros(dim))  # (D,) zero -> uniform weights at init
            if n_views is not None:
                self.view_logits = nn.Parameter(torch.zeros(n_views))  # (V,) score bias

    def weights(self, views: torch.Tensor) -> torch.Tensor:
        """The ``(B, V)`` fusion weights (each row sums to 1) for ``views`` ``(B, V, D)``."""
        b, v, d = views.shape
        if self.n_views is not None and self.mode != "mean" and v != self.n_views:
            raise ValueError(f"ViewFusion was built for {self.n_views} views, got {v}")
        if self.mode == "mean":
            return views.new_full((b, v), 1.0 / v)
        if self.mode == "learned":
            return self.view_logits.softmax(dim=0).to(views.dtype).expand(b, v)  # (B, V)
        keys = self.key(views)  # (B, V, D)
        scores = keys @ self.query.to(keys.dtype) / math.sqrt(d)  # (B, V)
        if self.n_views is not None:
            scores = scores + self.view_logits.to(scores.dtype)  # (B, V) + (V,)
        return scores.softmax(dim=1)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        if views.ndim != 3:
            raise ValueError(f"expected (B, V, D) view embeddings, got shape {tuple(views.shape)}")
        if self.mode == "mean":
            return views.mean(dim=1)  # (B, D)
        w = self.weights(views)  # (B, V)
        return torch.einsum("bv,bvd->bd", w, views)  # (B, D)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, n_views={self.n_views}"

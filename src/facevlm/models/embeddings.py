"""The embeddings one multiview forward pass produces: the contract between model and losses.

Both models (AffectVLM and SMILE-VLM) run the same multiview CLIP wrapper; their losses only
differ in which of these tensors they compare. Keeping the bundle explicit lets every loss be a
small module with one ``forward(embeddings, ...)`` signature, and lets tests build embeddings by
hand without a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MultiviewEmbeddings:
    """One batch of B samples with V views each, embedded in a D-dimensional joint space.

    Attributes:
        views: ``(B, V, D)`` L2-normalised embedding of every view.
        fused: ``(B, D)`` L2-normalised fused (multiview) embedding.
        text: ``(B, D)`` L2-normalised embedding of each sample's prompt, or ``None``.
        views_raw: ``(B, V, D)`` view embeddings before L2 normalisation (Barlow Twins
            standardises over the batch itself and needs the raw scale).
        fused_raw: ``(B, D)`` fused embedding before L2 normalisation.
        text_raw: ``(B, D)`` text embedding before L2 normalisation, or ``None``.
        logit_scale: scalar tensor, the *log* of the CLIP inverse temperature (exp() it to use).
    """

    views: torch.Tensor
    fused: torch.Tensor
    text: torch.Tensor | None
    views_raw: torch.Tensor
    fused_raw: torch.Tensor
    text_raw: torch.Tensor | None
    logit_scale: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.views.shape[0])

    @property
    def n_views(self) -> int:
        return int(self.views.shape[1])

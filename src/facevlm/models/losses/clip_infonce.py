"""Symmetric CLIP InfoNCE between image embeddings and their prompt embeddings.

Reference: Radford et al., "Learning Transferable Visual Models From Natural Language
Supervision", ICML 2021; implementation style of open_clip's ``ClipLoss``. Used by AffectVLM (fused
image vs prompt, weight ``w_infonce``, DECIDED in docs/methods.md) and by SMILE-VLM (L_vl: the fused
*and* each single view pulled toward the sample's text)::

    logits = exp(logit_scale) * image @ text^T                          # (N, N)
    L = (CE(logits, targets) + CE(logits^T, targets^T)) / 2

Targets: ``"diagonal"`` (standard CLIP: sample i matches text i only) or ``"labels"``: a row
spreads its target mass uniformly over all samples with the same label, for batches where several
samples share a prompt (SMILE's pseudo-labelled prompts, or one prompt per class). With diagonal
targets those identical texts count as negatives of each other's images and the text->image
direction pushes same-class images apart.

The learnable temperature lives in the model (``emb.logit_scale`` = log inverse temperature,
initialised at log(1/0.07) and clamped to [0, ln 100] by the loop, as open_clip does).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses.distributed import gather_no_grad, gather_with_grad

Targets = Literal["diagonal", "labels"]


def label_targets(labels: torch.Tensor) -> torch.Tensor:
    """Row-stochastic (N, N) target: uniform over the samples that share row i's label."""
    same = (labels[:, None] == labels[None, :]).float()  # (N, N), symmetric, diagonal = 1
    return same / same.sum(dim=1, keepdim=True)


def symmetric_infonce(
    image: torch.Tensor,
    text: torch.Tensor,
    scale: torch.Tensor,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE of ``image`` (N, D) vs ``text`` (N, D) at inverse temperature ``scale``.

    ``targets`` None means the diagonal; otherwise a symmetric row-stochastic (N, N) matrix.
    """
    logits = scale * image.float() @ text.float().T  # (N, N): image i vs text j
    if targets is None:
        targets_idx = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, targets_idx) + F.cross_entropy(logits.T, targets_idx)) / 2
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets.T)) / 2


class ClipInfoNCELoss(nn.Module):
    """CLIP InfoNCE between the fused image embedding (optionally each view) and the prompt.

    Args:
        targets: ``"diagonal"`` (default, standard CLIP) or ``"labels"`` (samples sharing a
            label are all positives; needs ``labels`` in ``forward``).
        view_weight: 0 (default) aligns only the fused embedding. With w > 0 the loss is
            ``(L_fused + w * mean_v L_view_v) / (1 + w)``, staying on the scale of one InfoNCE;
            SMILE-VLM uses w = 1 (fused and single views count equally).
        gather_distributed: under DDP, compute the loss over the global batch with features
            gathered with gradient (open_clip ``gather_with_grad=True, local_loss=False``);
            requires equal per-rank batch sizes. A no-op without a process group.

    Example:
        >>> import torch
        >>> from facevlm.models.embeddings import MultiviewEmbeddings
        >>> eye = torch.eye(4)  # 4 samples, perfectly aligned with their prompts
        >>> emb = MultiviewEmbeddings(views=eye[:, None], fused=eye, text=eye,
        ...                           views_raw=eye[:, None], fused_raw=eye, text_raw=eye,
        ...                           logit_scale=torch.tensor(10.0).log())
        >>> out = ClipInfoNCELoss()(emb)  # log(1 + 3 e^-10)
        >>> round(out["loss/infonce"].item(), 6)
        0.000136
    """

    def __init__(
        self,
        targets: Targets = "diagonal",
        view_weight: float = 0.0,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        if targets not in ("diagonal", "labels"):
            raise ValueError(f"targets must be 'diagonal' or 'labels', got {targets!r}")
        if view_weight < 0:
            raise ValueError(f"view_weight must be >= 0, got {view_weight}")
        self.targets = targets
        self.view_weight = view_weight
        self.gather_distributed = gather_distributed

    def forward(
        self, emb: MultiviewEmbeddings, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Returns ``{"loss/infonce"}``, plus detached ``stat/infonce_fused`` and
        ``stat/infonce_views`` when views are aligned too."""
        if emb.text is None:
            raise ValueError("ClipInfoNCELoss needs text embeddings (emb.text)")
        gather = gather_with_grad if self.gather_distributed else (lambda t: t)
        fused, text = gather(emb.fused), gather(emb.text)  # (N, D) each
        targets = None
        if self.targets == "labels":
            if labels is None:
                raise ValueError("targets='labels' needs labels (prompt or pseudo-prompt ids)")
            all_labels = gather_no_grad(labels) if self.gather_distributed else labels
            targets = label_targets(all_labels)  # (N, N)
        scale = emb.logit_scale.exp()
        loss_fused = symmetric_infonce(fused, text, scale, targets)
        if self.view_weight == 0:
            return {"loss/infonce": loss_fused}
        views = gather(emb.views)  # (N, V, D)
        loss_views = torch.stack(
            [symmetric_infonce(views[:, v], text, scale, targets) for v in range(views.shape[1])]
        ).mean()
        loss = (loss_fused + self.view_weight * loss_views) / (1 + self.view_weight)
        return {
            "loss/infonce": loss,
            "stat/infonce_fused": loss_fused.detach(),
            "stat/infonce_views": loss_views.detach(),
        }

"""SMILE-VLM's self-supervised objective: L = L_BT + lambda1 L_vl + lambda2 L_red.

Reference: Behzad, "Self-Supervised Multi-View Representation Learning using Vision-Language
Model for 3D/4D Facial Expression Recognition", arXiv 2506.01203 (IEEE Access 13, 2025):

- L_BT: Barlow Twins between every pair of views of a sample (``MultiviewBarlowTwinsLoss``);
- L_vl: CLIP InfoNCE pulling the fused *and* each single view toward the sample's text
  (``ClipInfoNCELoss`` with ``view_weight``);
- L_red: off-diagonal Barlow Twins penalty on the image-text cross-correlation
  (``CrossModalRedundancyLoss``, DECIDED in docs/methods.md).

No ground-truth label may enter training. The text of each sample is its *pseudo-labelled* prompt
(``facevlm.models.pseudo_labels.assign_pseudo_prompts``), and with k prompts for a whole batch
many samples share one text; so by default L_vl uses label-aware targets on the pseudo-prompt ids,
passed as ``labels`` (``infonce_targets="diagonal"`` for standard CLIP targets and no labels).
"""

from __future__ import annotations

import torch
from torch import nn

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses.barlow_twins import MultiviewBarlowTwinsLoss
from facevlm.models.losses.clip_infonce import ClipInfoNCELoss, Targets
from facevlm.models.losses.redundancy import CrossModalRedundancyLoss


class SmileVLMLoss(nn.Module):
    """Weighted SMILE-VLM terms; a weight of 0 switches a term off (ablations).

    Args:
        lambda1: weight of L_vl (vision-language InfoNCE).
        lambda2: weight of L_red (cross-modal redundancy).
        lambda_offdiag: Barlow Twins off-diagonal weight inside L_BT and L_red (5e-3).
        w_bt: weight of L_BT (1 in the paper's formula; 0 for the ablation without it).
        view_weight: single-view share of L_vl, see ``ClipInfoNCELoss`` (1: fused and views
            count equally).
        infonce_targets: ``"labels"`` (default; ``labels`` must be the pseudo-prompt ids) or
            ``"diagonal"``.
        eps: variance epsilon of the batch standardisation.
        gather_distributed: global-batch statistics and logits under DDP (no-op otherwise).

    Returns ``loss/bt``, ``loss/vl``, ``loss/red`` (weighted; a term with weight 0 is neither
    computed nor returned) and, when L_vl is on, the detached unweighted parts
    ``stat/vl_fused`` and ``stat/vl_views``. The loop sums only the ``loss/*`` keys.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> from facevlm.models.embeddings import MultiviewEmbeddings
        >>> raw, t_raw = torch.randn(8, 3, 16), torch.randn(8, 16)
        >>> v, t = F.normalize(raw, dim=-1), F.normalize(t_raw, dim=-1)
        >>> f_raw = raw.mean(1)
        >>> emb = MultiviewEmbeddings(v, F.normalize(f_raw, dim=-1), t, raw, f_raw, t_raw,
        ...                           logit_scale=torch.tensor(2.6593))
        >>> pseudo = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])  # from assign_pseudo_prompts
        >>> sorted(SmileVLMLoss()(emb, labels=pseudo))
        ['loss/bt', 'loss/red', 'loss/vl', 'stat/vl_fused', 'stat/vl_views']
    """

    def __init__(
        self,
        lambda1: float = 1.0,
        lambda2: float = 1.0,
        lambda_offdiag: float = 5e-3,
        w_bt: float = 1.0,
        view_weight: float = 1.0,
        infonce_targets: Targets = "labels",
        eps: float = 1e-5,
        gather_distributed: bool = True,
        bt_projector: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.lambda1, self.lambda2, self.w_bt = lambda1, lambda2, w_bt
        self.bt = MultiviewBarlowTwinsLoss(lambda_offdiag, eps, gather_distributed, bt_projector)
        self.vl = ClipInfoNCELoss(infonce_targets, view_weight, gather_distributed)
        self.red = CrossModalRedundancyLoss(lambda_offdiag, eps, gather_distributed)

    def forward(
        self, emb: MultiviewEmbeddings, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``labels``: pseudo-prompt ids (B,) when ``infonce_targets="labels"``, never truth."""
        out: dict[str, torch.Tensor] = {}
        if self.w_bt:
            out["loss/bt"] = self.w_bt * self.bt(emb)["loss/bt"]
        if self.lambda1:
            vl = self.vl(emb, labels)
            out["loss/vl"] = self.lambda1 * vl["loss/infonce"]
            if "stat/infonce_fused" in vl:
                out["stat/vl_fused"] = vl["stat/infonce_fused"]
                out["stat/vl_views"] = vl["stat/infonce_views"]
        if self.lambda2:
            out["loss/red"] = self.lambda2 * self.red(emb)["loss/red"]
        return out

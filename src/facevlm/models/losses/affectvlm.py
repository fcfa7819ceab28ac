"""AffectVLM's supervised objective: multiview contrastive + multiview triplet (+ CLIP InfoNCE).

Reference: Behzad & Zhao, "Contrastive Language-Image Learning with Augmented Textual Prompts for
3D/4D FER Using Vision-Language Model", arXiv 2504.19739 (2025). As reported::

    L_mc = sum_same (1 - cos(Z_i, Z_j)) + sum_different max(0, cos(Z_k, Z_l) - alpha)
    L_mt = max(0, ||Z_a - Z_p||^2 - ||Z_a - Z_n||^2 + alpha),     L = L_mc + L_mt

with one learnable margin alpha. DECIDED in docs/methods.md, each a parameter here: cosine on the
L2-normalised embeddings (the contract's ``views``/``fused``/``text`` are unit vectors, so cos is
a dot product); sums become means over the pairs present (batch-size independent); alpha =
softplus(raw) so it stays positive; pairs include view-prompt pairs so the text tower gets
gradient; a symmetric CLIP InfoNCE term is added with weight ``w_infonce``.

Note on the shared margin: L_mc's hinge shrinks as alpha grows and L_mt's hinge shrinks as alpha
falls, so the two terms pull alpha in opposite directions; alone, L_mc would raise it until no
negative pair is penalised (alpha >= the largest negative cosine) and L_mt would lower it toward
0. Watch ``stat/margin``, and keep ``raw`` out of weight decay (decay pulls raw to 0, i.e.
alpha to ln 2).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses.clip_infonce import ClipInfoNCELoss, Targets
from facevlm.models.losses.distributed import gather_no_grad, gather_with_grad

Mining = Literal["all", "hard"]


class LearnableMargin(nn.Module):
    """alpha = floor + softplus(raw), raw unconstrained and initialised so that alpha = ``init``.

    Positive by construction, and it stays so under an optimiser that pushes it down: the
    gradient reaching raw is scaled by softplus' = sigmoid(raw), which vanishes as alpha -> 0.
    ``floor`` (default 0) adds a hard lower bound if one is wanted (softplus itself underflows to
    exactly 0 in float32 only below raw ~ -100).
    """

    def __init__(self, init: float = 0.2, learnable: bool = True, floor: float = 0.0) -> None:
        super().__init__()
        if init <= floor:
            raise ValueError(f"margin init {init} must exceed the floor {floor}")
        y = init - floor
        raw = torch.tensor(y + math.log(-math.expm1(-y)))  # inverse softplus, stable for small y
        self.floor = floor
        self.raw = nn.Parameter(raw, requires_grad=learnable)

    def forward(self) -> torch.Tensor:
        return self.floor + F.softplus(self.raw)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask``; 0 (still in the graph) when the mask is empty."""
    return torch.where(mask, values, torch.zeros_like(values)).sum() / mask.sum().clamp_min(1)


def _gathered(
    emb: MultiviewEmbeddings, labels: torch.Tensor, gather_distributed: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """views (N, V, D), fused (N, D), text (N, D) | None, labels (N,) of the global batch."""
    if not gather_distributed:
        return emb.views, emb.fused, emb.text, labels
    text = None if emb.text is None else gather_with_grad(emb.text)
    return gather_with_grad(emb.views), gather_with_grad(emb.fused), text, gather_no_grad(labels)


def _check_labels(labels: torch.Tensor | None, batch_size: int) -> torch.Tensor:
    if labels is None or labels.shape != (batch_size,):
        got = None if labels is None else tuple(labels.shape)
        raise ValueError(
            f"AffectVLM losses need integer labels of shape ({batch_size},), got {got}"
        )
    return labels


class MultiviewContrastiveLoss(nn.Module):
    """L_mc: mean(1 - cos) over same-emotion pairs + mean(max(0, cos - alpha)) over the others.

    Pairs: every unordered pair of distinct views in the batch (views of one sample are
    positives), and, with ``include_prompt_pairs``, every (view or fused, prompt) pair, positive
    when the two samples share a label. Positives and negatives are pooled across both kinds.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> from facevlm.models.embeddings import MultiviewEmbeddings
        >>> v = F.normalize(torch.randn(4, 3, 8), dim=-1)
        >>> t = F.normalize(torch.randn(4, 8), dim=-1)
        >>> f = F.normalize(v.mean(1), dim=-1)
        >>> emb = MultiviewEmbeddings(v, f, t, v, f, t, logit_scale=torch.tensor(2.6593))
        >>> loss = MultiviewContrastiveLoss()(emb, labels=torch.tensor([0, 0, 1, 1]))
        >>> sorted(loss)
        ['loss/mc']
    """

    def __init__(
        self,
        margin: LearnableMargin | None = None,
        include_prompt_pairs: bool = True,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        self.margin = margin if margin is not None else LearnableMargin()
        self.include_prompt_pairs = include_prompt_pairs
        self.gather_distributed = gather_distributed

    def forward(
        self, emb: MultiviewEmbeddings, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        labels = _check_labels(labels, emb.batch_size)
        views, fused, text, labels = _gathered(emb, labels, self.gather_distributed)
        n, v, d = views.shape
        z = views.reshape(n * v, d).float()  # (M, D), M = N * V, sample-major
        z_labels = labels.repeat_interleave(v)  # (M,)
        upper = torch.ones(n * v, n * v, dtype=torch.bool, device=z.device).triu(diagonal=1)
        sims = [(z @ z.T)[upper]]  # (M (M - 1) / 2,) view-view cosines
        same = [(z_labels[:, None] == z_labels[None, :])[upper]]
        if self.include_prompt_pairs:
            if text is None:
                raise ValueError("include_prompt_pairs=True needs text embeddings (emb.text)")
            image = torch.cat([z, fused.float()])  # (M + N, D)
            image_labels = torch.cat([z_labels, labels])  # (M + N,)
            sims.append((image @ text.float().T).flatten())  # ((M + N) * N,) image-prompt cosines
            same.append((image_labels[:, None] == labels[None, :]).flatten())
        sim, pos = torch.cat(sims), torch.cat(same)
        alpha = self.margin()
        loss = _masked_mean(1.0 - sim, pos) + _masked_mean(F.relu(sim - alpha), ~pos)
        return {"loss/mc": loss}


def squared_distances(z: torch.Tensor) -> torch.Tensor:
    """Pairwise ||z_i - z_j||^2 of ``z`` (M, D) -> (M, M); differentiable at 0, unlike cdist."""
    sq = z.pow(2).sum(dim=1)  # (M,)
    return (sq[:, None] + sq[None, :] - 2.0 * z @ z.T).clamp_min(0.0)


def batch_all_triplet_mean(
    d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: torch.Tensor
) -> torch.Tensor:
    """Mean of relu(d[a, p] - d[a, n] + margin) over valid triplets, in O(M^2) memory.

    The dense (M, M, M) tensor is out of reach once the batch is gathered over GPUs, so for each
    anchor the negatives' distances y are sorted and, per positive with x = d[a, p] + margin,
    sum_n relu(x - y_n) = k x - (sum of the k smallest y), with k = #{y_n < x}.
    """
    d = d.double()  # k x - prefix subtracts sums of up to M terms: keep the cancellation exact
    x = d + margin  # (M, M): [anchor, positive]
    y, _ = torch.sort(d.masked_fill(~neg, float("inf")), dim=1)  # (M, M): negatives first
    prefix = F.pad(torch.where(torch.isinf(y), 0.0, y).cumsum(dim=1), (1, 0))  # (M, M + 1)
    k = torch.searchsorted(y.detach().contiguous(), x.detach().contiguous())  # (M, M)
    per_pair = k * x - prefix.gather(1, k)  # (M, M): hinge summed over the anchor's negatives
    total = torch.where(pos, per_pair, torch.zeros_like(per_pair)).sum()
    n_triplets = (pos.sum(dim=1) * neg.sum(dim=1)).sum()
    return (total / n_triplets.clamp_min(1)).to(margin.dtype)


class MultiviewTripletLoss(nn.Module):
    """L_mt over all views in the batch: anchors and positives share a label, negatives do not.

    ``mining="all"`` (default): mean over every valid triplet (a, p, n), a != p.
    ``mining="hard"``: per anchor the farthest positive and the nearest negative, mean over
    anchors that have both.
    """

    def __init__(
        self,
        margin: LearnableMargin | None = None,
        mining: Mining = "all",
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        if mining not in ("all", "hard"):
            raise ValueError(f"mining must be 'all' or 'hard', got {mining!r}")
        self.margin = margin if margin is not None else LearnableMargin()
        self.mining = mining
        self.gather_distributed = gather_distributed

    def forward(
        self, emb: MultiviewEmbeddings, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        labels = _check_labels(labels, emb.batch_size)
        views, _, _, labels = _gathered(emb, labels, self.gather_distributed)
        n, v, dim = views.shape
        z = views.reshape(n * v, dim).float()  # (M, D)
        z_labels = labels.repeat_interleave(v)  # (M,)
        d = squared_distances(z)  # (M, M)
        same = z_labels[:, None] == z_labels[None, :]
        pos = same & ~torch.eye(n * v, dtype=torch.bool, device=z.device)
        neg = ~same
        alpha = self.margin()
        if self.mining == "all":
            return {"loss/mt": batch_all_triplet_mean(d, pos, neg, alpha)}
        hardest_pos = d.masked_fill(~pos, float("-inf")).amax(dim=1)  # (M,)
        hardest_neg = d.masked_fill(~neg, float("inf")).amin(dim=1)  # (M,)
        valid = pos.any(dim=1) & neg.any(dim=1)
        return {"loss/mt": _masked_mean(F.relu(hardest_pos - hardest_neg + alpha), valid)}


class AffectVLMLoss(nn.Module):
    """L = w_mc L_mc + w_mt L_mt + w_infonce L_InfoNCE, one shared learnable margin.

    Returns the weighted terms ``loss/mc``, ``loss/mt``, ``loss/infonce`` (a term whose weight is
    0 is neither computed nor returned) and the detached margin ``stat/margin`` (or
    ``stat/margin_mc`` / ``stat/margin_mt`` when not shared). The training loop sums the
    ``loss/*`` keys only; ``stat/*`` keys are for logging and must not be summed.

    Under DDP with ``gather_distributed=True`` (default) every rank computes the loss of the
    global batch, so the margin's gradient is identical on all ranks; with it off, keep the loss
    module's parameters under DDP (or all-reduce their gradients) so ranks do not drift apart.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> from facevlm.models.embeddings import MultiviewEmbeddings
        >>> v = F.normalize(torch.randn(4, 3, 8), dim=-1)
        >>> t = F.normalize(torch.randn(4, 8), dim=-1)
        >>> f = F.normalize(v.mean(1), dim=-1)
        >>> emb = MultiviewEmbeddings(v, f, t, v, f, t, logit_scale=torch.tensor(2.6593))
        >>> out = AffectVLMLoss()(emb, labels=torch.tensor([0, 0, 1, 1]))
        >>> sorted(out)
        ['loss/infonce', 'loss/mc', 'loss/mt', 'stat/margin']
        >>> total = sum(value for key, value in out.items() if key.startswith("loss/"))
    """

    def __init__(
        self,
        w_mc: float = 1.0,
        w_mt: float = 1.0,
        w_infonce: float = 1.0,
        margin_init: float = 0.2,
        share_margin: bool = True,
        include_prompt_pairs: bool = True,
        mining: Mining = "all",
        infonce_targets: Targets = "diagonal",
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        self.w_mc, self.w_mt, self.w_infonce = w_mc, w_mt, w_infonce
        self.share_margin = share_margin
        margin_mc = LearnableMargin(margin_init)
        margin_mt = margin_mc if share_margin else LearnableMargin(margin_init)
        self.mc = MultiviewContrastiveLoss(margin_mc, include_prompt_pairs, gather_distributed)
        self.mt = MultiviewTripletLoss(margin_mt, mining, gather_distributed)
        self.infonce = ClipInfoNCELoss(infonce_targets, 0.0, gather_distributed)

    def forward(
        self, emb: MultiviewEmbeddings, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.w_mc:
            out["loss/mc"] = self.w_mc * self.mc(emb, labels)["loss/mc"]
        if self.w_mt:
            out["loss/mt"] = self.w_mt * self.mt(emb, labels)["loss/mt"]
        if self.w_infonce:
            out["loss/infonce"] = self.w_infonce * self.infonce(emb, labels)["loss/infonce"]
        if self.share_margin:
            out["stat/margin"] = self.mc.margin().detach()
        else:
            out["stat/margin_mc"] = self.mc.margin().detach()
            out["stat/margin_mt"] = self.mt.margin().detach()
        return out

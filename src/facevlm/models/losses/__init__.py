"""Losses of the two models, one ``nn.Module`` each with one signature.

Every loss is called as ``loss(emb: MultiviewEmbeddings, labels: Tensor | None) -> dict`` and
returns already-weighted terms under ``loss/<name>`` keys; the training loop sums exactly those
(:func:`loss_terms_total`). Keys under ``stat/`` are detached values for logging (e.g. the
learnable margin) and must NOT be summed::

    total = loss_terms_total(loss_fn(emb, labels))

Which loss a model trains with is its recipe's (:func:`facevlm.experiments.recipes.get_recipe`).

Pure torch, no Kedro: these modules run under torchrun; with ``gather_distributed=True`` (the
default) they compute the global-batch loss under DDP through gradient-carrying collectives
(``distributed.py``) and are unchanged in a single process.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from facevlm.models.losses.affectvlm import (
    AffectVLMLoss,
    LearnableMargin,
    MultiviewContrastiveLoss,
    MultiviewTripletLoss,
)
from facevlm.models.losses.barlow_twins import MultiviewBarlowTwinsLoss
from facevlm.models.losses.clip_infonce import ClipInfoNCELoss
from facevlm.models.losses.distributed import all_reduce_with_grad, gather_with_grad, world_size
from facevlm.models.losses.redundancy import CrossModalRedundancyLoss
from facevlm.models.losses.smile import SmileVLMLoss


def loss_terms_total(terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The objective the training loop minimises: the sum of a loss output's ``loss/*`` terms,
    in float32 whatever the autocast dtype (``stat/*`` entries are left out)."""
    return torch.stack([v.float() for k, v in terms.items() if k.startswith("loss/")]).sum()


__all__ = [
    "AffectVLMLoss",
    "ClipInfoNCELoss",
    "CrossModalRedundancyLoss",
    "LearnableMargin",
    "MultiviewBarlowTwinsLoss",
    "MultiviewContrastiveLoss",
    "MultiviewTripletLoss",
    "SmileVLMLoss",
    "all_reduce_with_grad",
    "gather_with_grad",
    "loss_terms_total",
    "world_size",
]

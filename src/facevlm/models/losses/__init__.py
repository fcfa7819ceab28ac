"""Losses of the two models, one ``nn.Module`` each with one signature.

Every loss is called as ``loss(emb: MultiviewEmbeddings, labels: Tensor | None) -> dict`` and
returns already-weighted terms under ``loss/<name>`` keys; the training loop sums exactly those.
Keys under ``stat/`` are detached values for logging (e.g. the learnable margin) and must NOT be
summed::

    terms = loss_fn(emb, labels)
    total = sum(v for k, v in terms.items() if k.startswith("loss/"))

Pure torch, no Kedro: these modules run under torchrun; with ``gather_distributed=True`` (the
default) they compute the global-batch loss under DDP through gradient-carrying collectives
(``distributed.py``) and are unchanged in a single process.
"""

from __future__ import annotations

from typing import Any

from torch import nn

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

LOSSES: dict[str, type[nn.Module]] = {"affectvlm": AffectVLMLoss, "smile": SmileVLMLoss}


def build_loss(name: str, **params: Any) -> nn.Module:
    """The model's full objective by name: ``"affectvlm"`` or ``"smile"``, keyword parameters
    passed to its constructor (e.g. ``build_loss("smile", lambda1=0.5)``)."""
    try:
        cls = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}") from None
    return cls(**params)


def loss_terms_total(terms: dict[str, Any]) -> Any:
    """Sum of the ``loss/*`` entries of a loss output (``stat/*`` entries are left out)."""
    return sum(value for key, value in terms.items() if key.startswith("loss/"))


__all__ = [
    "LOSSES",
    "AffectVLMLoss",
    "ClipInfoNCELoss",
    "CrossModalRedundancyLoss",
    "LearnableMargin",
    "MultiviewBarlowTwinsLoss",
    "MultiviewContrastiveLoss",
    "MultiviewTripletLoss",
    "SmileVLMLoss",
    "all_reduce_with_grad",
    "build_loss",
    "gather_with_grad",
    "loss_terms_total",
    "world_size",
]

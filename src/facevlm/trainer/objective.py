"""The objective the loop optimises: the model and its loss modules as one module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields

import torch
from torch import nn

from facevlm.models.embeddings import MultiviewEmbeddings


class Objective(nn.Module):
    """Model + loss modules as one module, so DDP syncs the loss parameters (e.g. a margin) too.

    ``forward(images, tokens, labels)`` returns the terms of every loss module (``loss/*`` to
    sum, ``stat/*`` to log); the model runs under the caller's autocast, the losses in float32.
    """

    def __init__(self, model: nn.Module, losses: nn.ModuleList):
        super().__init__()
        self.model = model
        self.losses = losses

    def forward(
        self, images: torch.Tensor, tokens: torch.Tensor | None, labels: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        emb = self.model(images, tokens)
        emb = MultiviewEmbeddings(  # losses in float32, whatever the autocast dtype
            **{f.name: _float(getattr(emb, f.name)) for f in fields(MultiviewEmbeddings)}
        )
        terms: dict[str, torch.Tensor] = {}
        with torch.autocast(device_type=images.device.type, enabled=False):
            for loss in self.losses:
                for name, value in loss(emb, labels).items():
                    if name in terms:
                        raise ValueError(f"two loss modules return a term named {name!r}")
                    if not name.startswith(("loss/", "stat/")):
                        raise ValueError(f"loss term {name!r} is neither 'loss/...' nor 'stat/...'")
                    terms[name] = value
        if not any(name.startswith("loss/") for name in terms):
            raise ValueError("the loss modules returned no 'loss/...' term")
        return terms


def _float(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


def as_module_list(loss_modules: nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module]):
    if isinstance(loss_modules, nn.Module) and not isinstance(loss_modules, nn.ModuleList):
        return nn.ModuleList([loss_modules])
    if isinstance(loss_modules, Mapping):
        return nn.ModuleList(list(loss_modules.values()))
    return nn.ModuleList(list(loss_modules))

"""Pretrained backbone weights as a versioned catalog file that open_clip can load directly.

The ``pretrain`` pipeline produces a CLIP state dict; the model pipelines hand it to
``open_clip.create_model(pretrained=<file>)`` exactly like downloaded weights. So the file holds
the bare state dict (nothing else, or open_clip's strict load would fail), and what is known
about it — architecture, epochs, zero-shot check — goes to a JSON file beside it::

    <filepath>/<version>/pretrained_backbone.pt     torch.save(state_dict)
    <filepath>/<version>/pretrained_backbone.json   {"architecture": ..., "holdout_zero_shot": ...}

Loading returns :class:`PretrainedWeights`: the path (what ``BackboneConfig.pretrained`` takes)
and that information, without reading the tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from kedro_datasets._typing import JSONPreview

from facevlm.datasets.local_file import LocalVersionedFileDataset
from facevlm.experiments.pretrain import PretrainedBackbone


@dataclass(frozen=True)
class PretrainedWeights:
    """A local weight file and its description."""

    path: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        """True when pretraining was switched off and the file holds no weights."""
        return bool(self.info.get("skipped"))

    @property
    def architecture(self) -> str | None:
        return self.info.get("architecture")


def _info_path(weights_path: Path) -> Path:
    return weights_path.with_suffix(".json")


class PretrainedWeightsDataset(LocalVersionedFileDataset[PretrainedBackbone, PretrainedWeights]):
    """Saves a :class:`PretrainedBackbone`; loads a :class:`PretrainedWeights` (path + info)."""

    def load(self) -> PretrainedWeights:
        path = self._load_file()
        info_path = _info_path(path)
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        return PretrainedWeights(str(path.resolve()), info)

    def save(self, data: PretrainedBackbone) -> None:
        path = self._save_file()
        torch.save(data.state_dict, path)
        last = data.history[-1] if data.history else {}
        info = {
            "architecture": data.architecture,
            "skipped": not data.state_dict,
            "epochs": len(data.history),
            "final_loss": last.get("loss"),
            "holdout_zero_shot": data.holdout_zero_shot,
        }
        _info_path(path).write_text(json.dumps(info, indent=2) + "\n")

    def preview(self) -> JSONPreview:
        """Kedro-Viz preview: the description beside the weights (architecture, epochs, check),
        as JSON text."""
        return JSONPreview(json.dumps(self.load().info))

"""A trained model as a versioned catalog artifact that can be rebuilt without its training code.

Pickling a whole ``nn.Module`` ties the file to the exact class layout of the day it was saved.
A bundle instead stores what is needed to *rebuild* the model: the model config (backbone name,
fusion, number of views), the ``state_dict``, the class names and the class prompts the
zero-shot classifier uses. ``ModelBundle.build()`` recreates the model and tokenizer from it —
which is what the app and a notebook need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch
from kedro_datasets._typing import JSONPreview

from facevlm.datasets.local_file import LocalVersionedFileDataset


@dataclass
class ModelBundle:
    """Everything needed to rebuild and use a trained multiview CLIP."""

    model_name: str  # affectvlm | smile
    model_config: dict[str, Any]  # MultiviewCLIPConfig as a dict
    state_dict: dict[str, torch.Tensor]
    classes: list[str]
    class_prompts: dict[str, list[str]]
    info: dict[str, Any] = field(default_factory=dict)  # dataset, protocol, fold, metrics ...

    @classmethod
    def from_model(
        cls,
        model_name: str,
        model: torch.nn.Module,
        model_config: dict[str, Any],
        classes: list[str],
        class_prompts: dict[str, list[str]],
        **info: Any,
    ) -> ModelBundle:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return cls(model_name, model_config, state, list(classes), dict(class_prompts), dict(info))

    def build(self):
        """``(model, tokenizer)`` with the trained weights loaded (no hub download: the
        architecture is rebuilt with ``pretrained=None``)."""
        from facevlm.config import from_dict
        from facevlm.models.multiview_clip import MultiviewCLIPConfig, build_multiview_clip

        config = from_dict(MultiviewCLIPConfig, self.model_config)
        config.backbone.pretrained = None
        model, tokenizer = build_multiview_clip(config)
        model.load_state_dict(self.state_dict)
        model.eval()
        return model, tokenizer


class ModelBundleDataset(LocalVersionedFileDataset[ModelBundle, ModelBundle]):
    """Saves a :class:`ModelBundle` with ``torch.save``; versioned like any catalog file."""

    def load(self) -> ModelBundle:
        payload = torch.load(self._load_file(), map_location="cpu", weights_only=False)
        return ModelBundle(**payload)

    def save(self, data: ModelBundle) -> None:
        torch.save(data.__dict__, self._save_file())

    def preview(self) -> JSONPreview:
        """Kedro-Viz preview: what the model is (config, classes, run info), not its weights.
        A JSON *text*, as Kedro-Viz parses it (like ``json.JSONDataset.preview``)."""
        bundle = self.load()
        n_parameters = sum(t.numel() for t in bundle.state_dict.values())
        description = {
            "model_name": bundle.model_name,
            "classes": bundle.classes,
            "n_parameters": int(n_parameters),
            "model_config": bundle.model_config,
            "info": bundle.info,
        }
        return JSONPreview(json.dumps(description, default=str))

"""A trained model as a versioned catalog artifact that can be rebuilt without its training code.

Pickling a whole ``nn.Module`` ties the file to the exact class layout of the day it was saved.
A bundle instead stores what is needed to *rebuild* the model: the model config (backbone name,
fusion, number of views), the ``state_dict``, the class names and the class prompts the
zero-shot classifier uses. ``ModelBundle.build()`` recreates the model and tokenizer from it —
which is what the app and a notebook need.

The file holds only tensors and plain containers (str, int, float, bool, None, list, dict), so
it is read with ``torch.load(weights_only=True)``: opening a model file can never run code from
it. ``save`` converts numpy scalars and tuples to plain values to keep it that way.

Optional ``linear_probe`` (SMILE-VLM): a logistic-regression head on the frozen fused embedding,
``{"weight": (C, D), "bias": (C,), "mean": (D,), "scale": (D,)}`` float tensors (the
standardisation then the linear layer of :class:`facevlm.models.probes.LinearProbe`, written by
its ``as_tensors``), its rows in ``classes`` order. ``None`` when the training pipeline did not fit one.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np
import torch
from kedro.io import DatasetError
from kedro_datasets._typing import JSONPreview

from facevlm.datasets.local_file import LocalVersionedFileDataset

#: Keys of a ``linear_probe`` and their dimensionality.
PROBE_KEYS = {"weight": 2, "bias": 1, "mean": 1, "scale": 1}


@dataclass
class ModelBundle:
    """Everything needed to rebuild and use a trained multiview CLIP."""

    model_name: str  # affectvlm | smile
    model_config: dict[str, Any]  # MultiviewCLIPConfig as a dict
    state_dict: dict[str, torch.Tensor]
    classes: list[str]
    class_prompts: dict[str, list[str]]
    info: dict[str, Any] = field(default_factory=dict)  # dataset, protocol, fold, metrics ...
    linear_probe: dict[str, torch.Tensor] | None = None  # see the module docstring

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

    def check_probe(self) -> None:
        """Raise ``ValueError`` when ``linear_probe`` is present but malformed."""
        probe = self.linear_probe
        if probe is None:
            return
        if set(probe) != set(PROBE_KEYS):
            raise ValueError(f"linear_probe needs keys {sorted(PROBE_KEYS)}, has {sorted(probe)}")
        for key, ndim in PROBE_KEYS.items():
            if not isinstance(probe[key], torch.Tensor) or probe[key].ndim != ndim:
                raise ValueError(f"linear_probe[{key!r}] must be a {ndim}-d tensor")
        n_classes, dim = probe["weight"].shape
        if n_classes != len(self.classes) or probe["bias"].shape[0] != n_classes:
            raise ValueError(
                f"linear_probe has {n_classes} classes, the bundle {len(self.classes)}"
            )
        if probe["mean"].shape[0] != dim or probe["scale"].shape[0] != dim:
            raise ValueError("linear_probe mean/scale do not match its weight's width")


def plain(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, tuples and paths turned into what
    ``torch.load(weights_only=True)`` accepts (tensors and plain containers)."""
    if isinstance(value, torch.Tensor | str | int | float | bool) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


class ModelBundleDataset(LocalVersionedFileDataset[ModelBundle, ModelBundle]):
    """Saves a :class:`ModelBundle` with ``torch.save``; versioned like any catalog file.

    Loading uses ``weights_only=True``. A file that cannot be read that way (written by an
    older facevlm that pickled numpy values, or altered to carry code) or that lacks the
    bundle's fields raises a ``DatasetError`` naming the file and the reason.
    """

    def load(self) -> ModelBundle:
        return read_bundle_file(self._load_file())

    def save(self, data: ModelBundle) -> None:
        payload = {f.name: plain(getattr(data, f.name)) for f in fields(ModelBundle)}
        torch.save(payload, self._save_file())

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


def read_bundle_file(path) -> ModelBundle:
    """Read one bundle file safely (see :class:`ModelBundleDataset`)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as error:
        reason = " ".join(str(error).split("\n")[0].split())
        raise DatasetError(
            f"{path}: not a model bundle that can be loaded safely (weights_only): {reason}. "
            "It may be from an older facevlm or altered; re-run the training pipeline."
        ) from error
    names = {f.name for f in fields(ModelBundle)}
    required = {f.name for f in fields(ModelBundle) if f.default is f.default_factory is MISSING}
    if not isinstance(payload, dict) or not required <= set(payload):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise DatasetError(f"{path}: not a model bundle (needs {sorted(required)}, has {found})")
    bundle = ModelBundle(**{k: v for k, v in payload.items() if k in names})
    try:
        bundle.check_probe()
    except ValueError as error:
        raise DatasetError(f"{path}: {error}") from error
    return bundle

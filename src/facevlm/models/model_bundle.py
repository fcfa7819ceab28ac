"""A trained model as plain data: what is needed to rebuild it without its training code.

Pickling a whole ``nn.Module`` ties the file to the exact class layout of the day it was saved.
A bundle instead stores what is needed to *rebuild* the model: the model config (backbone name,
fusion, number of views), the ``state_dict``, the class names and the class prompts the
zero-shot classifier uses. ``ModelBundle.build()`` recreates the model and tokenizer from it —
which is what the app and a notebook need.

This module is torch-only (no Kedro): ``python -m facevlm.train`` writes bundles on cluster
nodes where only torch and open_clip are installed. The catalog dataset that versions them is
:class:`facevlm.datasets.model_bundle.ModelBundleDataset`.

Optional ``linear_probe`` (SMILE-VLM): a logistic-regression head on the frozen fused embedding,
``{"weight": (C, D), "bias": (C,), "mean": (D,), "scale": (D,)}`` float tensors (the
standardisation then the linear layer of :class:`facevlm.models.probes.LinearProbe`, written by
its ``as_tensors``), its rows in ``classes`` order. ``None`` when the training pipeline did not fit one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: Keys of a ``linear_probe`` and their dimensionality.
PROBE_KEYS = {"weight": 2, "bias": 1, "mean": 1, "scale": 1}
#: ``info`` key of how the training samples were made of a sequence's frames:
#: ``{"frames": "samples" | "views", "frames_per_sample": K}`` (``experiment.data.frames``;
#: K only when each sample stacks K frames' views, frame-major, so ``n_views`` is K x views).
#: Absent from bundles saved before it was recorded: each frame was then a sample.
SAMPLE_FRAMES = "sample_frames"


@dataclass
class ModelBundle:
    """Everything needed to rebuild and use a trained multiview CLIP."""

    model_name: str  # affectvlm | smile
    model_config: dict[str, Any]  # MultiviewCLIPConfig as a dict
    state_dict: dict[str, torch.Tensor]
    classes: list[str]
    class_prompts: dict[str, list[str]]
    # dataset, protocol, fold, metrics, render record, SAMPLE_FRAMES ...
    info: dict[str, Any] = field(default_factory=dict)
    linear_probe: dict[str, torch.Tensor] | None = None  # see the module docstring
    # temperature scaling of the heads' probabilities, plain data (None: uncalibrated):
    # {"method": "temperature", "temperature": {head: T}, "ece_uncalibrated": ..., ...};
    # written and read by facevlm.evaluation.calibration (bundle_record, head_temperatures)
    calibration: dict[str, Any] | None = None
    #: How familiar an input is to the model (:mod:`facevlm.evaluation.familiarity`): training
    #: embeddings, k, sorted held-out reference scores, threshold, training modality; tensors
    #: and plain values. ``None`` for a bundle saved without them: familiarity is then unknown.
    familiarity: dict[str, Any] | None = None
    #: The second reader that must agree before the product answers
    #: (:mod:`facevlm.face_reader`): its head, the answer rule calibrated on the held-out folds,
    #: the render views it reads and their figures, as plain values. ``None``: a bundle without
    #: one answers from its own probabilities, sets and familiarity alone.
    face_reader: dict[str, Any] | None = None

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

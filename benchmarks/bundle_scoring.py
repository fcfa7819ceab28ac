"""Score rendered faces with a trained model bundle: shared by the transfer benchmarks.

``framing_robustness.py`` and ``transfer_handposed.py`` both load a bundle (by default the last
``train_affectvlm`` run's), render faces with the project's render settings and ask the model
for its zero-shot class; this module holds those steps once. Imported from the scripts beside
it (``python benchmarks/<script>.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Where ``train_affectvlm`` saves its bundle versions (relative to the project root).
AFFECTVLM_BUNDLES = Path("data/06_models/affectvlm/model.pt")
#: The render settings the pipelines use.
RENDER_PARAMETERS = Path("conf/base/parameters_render.yml")


@dataclass
class ScoredBundle:
    """A trained bundle, built and ready to classify ``(N, V, S, S, 3)`` uint8 renders."""

    path: Path
    bundle: Any
    model: Any
    tokenizer: Any

    @property
    def classes(self) -> list[str]:
        return list(self.bundle.classes)

    def predict(self, views: np.ndarray) -> np.ndarray:
        """``(N,)`` class index of each sample's zero-shot prediction (CPU)."""
        import torch

        from facevlm.experiments.common import embed_views, model_image_size, zero_shot_predict
        from facevlm.experiments.data import resize_views

        resized = resize_views(views, model_image_size(self.model))
        with torch.no_grad():
            embedded = embed_views(self.model, resized, device="cpu")
            return zero_shot_predict(
                self.model,
                self.tokenizer,
                embedded.fused,
                self.bundle.class_prompts,
                self.bundle.classes,
            )


def load_bundle(path: Path | None) -> ScoredBundle:
    """The bundle at ``path``, or the latest ``train_affectvlm`` bundle when ``path`` is None."""
    from facevlm.datasets.model_bundle import ModelBundleDataset

    if path is None:
        versions = sorted(AFFECTVLM_BUNDLES.glob("*/model.pt"))
        if not versions:
            raise SystemExit(f"no trained bundle under {AFFECTVLM_BUNDLES.parent}; run train first")
        path = versions[-1]
    bundle = ModelBundleDataset(filepath=str(path)).load()
    model, tokenizer = bundle.build()
    return ScoredBundle(path=path, bundle=bundle, model=model, tokenizer=tokenizer)


def render_settings(modality: str | None = None):
    """The pipelines' :class:`RenderSettings` (size, views), with ``modality`` if given (else
    the configured one; the first of a mixed ``texture+shaded``)."""
    import yaml

    from facevlm.render.renderer import RenderSettings, parse_modalities

    render = yaml.safe_load(RENDER_PARAMETERS.read_text())["render"]
    modality = modality or parse_modalities(render["modality"])[0]
    return RenderSettings(size=render["size"], views=render["views"], modality=modality)

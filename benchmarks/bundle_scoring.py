"""Score rendered faces with a trained model bundle: shared by the transfer benchmarks.

``framing_robustness.py``, ``transfer_handposed.py`` and ``cross_generator.py`` load a bundle
(by default the last ``train_affectvlm`` run's), render faces with the project's render settings,
ask the model for its class and print how often it was right; this module holds those steps
once. Imported from the scripts beside it (``python benchmarks/<script>.py`` puts this folder on
``sys.path``).
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

    @property
    def main_head(self) -> str:
        """What :meth:`predict_main` reads: SMILE-VLM's linear probe when the bundle carries
        one, else the prompt classifier (AffectVLM's own head), as the app's main head."""
        return "linear probe" if self.bundle.linear_probe is not None else "prompt classifier"

    def _embed(self, views: np.ndarray, appearance: bool = False):
        """The views' embeddings (:func:`~facevlm.experiments.common.embed_views`); with
        ``appearance``, also their appearance features and edges."""
        import torch

        from facevlm.experiments.common import embed_views, model_image_size
        from facevlm.experiments.experiment_data import resize_views

        resized = resize_views(views, model_image_size(self.model))
        with torch.no_grad():
            return embed_views(self.model, resized, device="cpu", appearance=appearance)

    def predict(self, views: np.ndarray) -> np.ndarray:
        """``(N,)`` class index of each sample's zero-shot prediction (CPU)."""
        from facevlm.experiments.common import zero_shot_predict

        return zero_shot_predict(
            self.model,
            self.tokenizer,
            self._embed(views).fused,
            self.bundle.class_prompts,
            self.bundle.classes,
        )

    def predict_main(self, views: np.ndarray) -> np.ndarray:
        """``(N,)`` class index of each sample by the bundle's main head (:attr:`main_head`):
        for SMILE-VLM the linear probe on the raw fused embedding, the figure its runs report
        as ``test/accuracy_mean``; for AffectVLM the same as :meth:`predict`."""
        probe = self.bundle.linear_probe
        if probe is None:
            return self.predict(views)
        raw = self._embed(views).fused_raw.float()
        z = (raw - probe["mean"]) / probe["scale"]
        return (z @ probe["weight"].T + probe["bias"]).argmax(dim=1).numpy()


def load_bundle(path: Path | None, project: Path = Path(".")) -> ScoredBundle:
    """The bundle at ``path``, or the latest ``train_affectvlm`` bundle of the project at
    ``project`` when ``path`` is None."""
    from facevlm.datasets.model_bundle import ModelBundleDataset

    if path is None:
        versions = sorted((project / AFFECTVLM_BUNDLES).glob("*/model.pt"))
        if not versions:
            raise SystemExit(
                f"no trained bundle under {project / AFFECTVLM_BUNDLES}; run train first"
            )
        path = versions[-1]
    return scored(ModelBundleDataset(filepath=str(path)).load(), path)


def scored(bundle: Any, path: Path) -> ScoredBundle:
    """A loaded :class:`~facevlm.models.model_bundle.ModelBundle` built for scoring."""
    model, tokenizer = bundle.build()
    return ScoredBundle(path=path, bundle=bundle, model=model, tokenizer=tokenizer)


def print_scores(
    labels: np.ndarray, predicted: np.ndarray, classes: list[str], indent: str = ""
) -> float:
    """Print the accuracy (and chance), each class's recall and the confusion matrix (rows:
    true class, columns: predicted) of class indices ``predicted`` against ``labels``;
    returns the accuracy."""
    from facevlm.evaluation.metrics import confusion_matrix

    labels, predicted = np.asarray(labels), np.asarray(predicted)
    accuracy = float(np.mean(predicted == labels))
    print(f"{indent}accuracy: {accuracy:.3f} of {len(labels)} (chance {1 / len(classes):.3f})")
    counts = confusion_matrix(labels, predicted, classes)
    width = max(len(name) for name in classes)
    header = " ".join(name[:5].rjust(5) for name in classes)
    print(f"{indent}{'true / predicted':>{width + 13}}  {header}")
    for k, name in enumerate(classes):
        rows = labels == k
        recall = f"{np.mean(predicted[rows] == k):.2f}" if rows.any() else "  - "
        cells = " ".join(str(n).rjust(5) for n in counts[k])
        print(f"{indent}{name:>{width}}  recall {recall}  {cells}")
    return accuracy


def render_settings(modality: str | None = None):
    """The pipelines' :class:`RenderSettings` (size, views), with ``modality`` if given (else
    the configured one; the first of a mixed ``texture+shaded``)."""
    import yaml

    from facevlm.render.renderer import RenderSettings, parse_modalities

    render = yaml.safe_load(RENDER_PARAMETERS.read_text())["render"]
    modality = modality or parse_modalities(render["modality"])[0]
    return RenderSettings(size=render["size"], views=render["views"], modality=modality)

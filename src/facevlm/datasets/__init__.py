"""Kedro catalog datasets of our own: versioned, lazily loadable, previewable in Kedro-Viz."""

from facevlm.datasets.image import PreviewableImageDataset
from facevlm.datasets.mlflow_model_run import MlflowModelRunDataset, ModelRunReport
from facevlm.datasets.model_bundle import ModelBundle, ModelBundleDataset
from facevlm.datasets.pretrained_weights import PretrainedWeights, PretrainedWeightsDataset
from facevlm.datasets.render_set import RenderSet, RenderSetDataset

__all__ = [
    "MlflowModelRunDataset",
    "ModelBundle",
    "ModelBundleDataset",
    "ModelRunReport",
    "PretrainedWeights",
    "PretrainedWeightsDataset",
    "PreviewableImageDataset",
    "RenderSet",
    "RenderSetDataset",
]

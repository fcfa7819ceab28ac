"""Kedro catalog datasets of our own: versioned, lazily loadable, previewable in Kedro-Viz."""

from facevlm.datasets.figure_files import FigureDataset
from facevlm.datasets.image import PreviewableImageDataset
from facevlm.datasets.mlflow_model_run import DatasetInput, MlflowModelRunDataset, ModelRunReport
from facevlm.datasets.model_bundle import ModelBundle, ModelBundleDataset
from facevlm.datasets.pretrained_weights import PretrainedWeights, PretrainedWeightsDataset
from facevlm.datasets.render_set import RenderSet, RenderSetDataset
from facevlm.datasets.tables import PreviewableParquetDataset

__all__ = [
    "DatasetInput",
    "FigureDataset",
    "MlflowModelRunDataset",
    "ModelBundle",
    "ModelBundleDataset",
    "ModelRunReport",
    "PretrainedWeights",
    "PretrainedWeightsDataset",
    "PreviewableImageDataset",
    "PreviewableParquetDataset",
    "RenderSet",
    "RenderSetDataset",
]

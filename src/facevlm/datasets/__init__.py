"""Kedro catalog datasets of our own: versioned, lazily loadable, previewable in Kedro-Viz."""

from facevlm.datasets.image import PreviewableImageDataset
from facevlm.datasets.render_set import RenderSet, RenderSetDataset

__all__ = ["PreviewableImageDataset", "RenderSet", "RenderSetDataset"]

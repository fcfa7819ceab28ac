"""``render``: turn every indexed sample into multiview images."""

from facevlm.pipelines.render.pipeline import create_pipeline

__all__ = ["create_pipeline"]

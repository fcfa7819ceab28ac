"""``compare``: line up every model run in the MLflow store (models × data × protocol × variant)."""

from facevlm.pipelines.compare.pipeline import create_pipeline

__all__ = ["create_pipeline"]

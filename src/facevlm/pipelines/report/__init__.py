"""``report``: the documentation's results tables, generated from the MLflow store."""

from facevlm.pipelines.report.pipeline import create_check_pipeline, create_pipeline

__all__ = ["create_check_pipeline", "create_pipeline"]

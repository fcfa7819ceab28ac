"""``expression_bank``: real people's expressions (labelled photos, FACS codes) as one table."""

from facevlm.pipelines.expression_bank.pipeline import create_pipeline

__all__ = ["create_pipeline"]

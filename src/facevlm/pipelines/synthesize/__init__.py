"""``synthesize``: write the built-in synthetic 3D/4D set and its contact sheet."""

from facevlm.pipelines.synthesize.pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""The model pipelines: one template (protocol → prompts → cross-validation → report) reused
under a namespace per model: ``affectvlm``, ``smile`` and ``smile_mer`` (micro-expressions)."""

from facevlm.pipelines.training.pipeline import create_ablation_pipeline, create_pipeline

__all__ = ["create_ablation_pipeline", "create_pipeline"]

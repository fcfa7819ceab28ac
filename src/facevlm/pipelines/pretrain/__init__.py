"""``pretrain``: CLIP-style pretraining of the CPU backbone on a separate captioned synthetic corpus."""

from facevlm.pipelines.pretrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]

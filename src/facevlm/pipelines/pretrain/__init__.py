"""``pretrain``: CLIP-style pretraining of the CPU backbone on a separate captioned synthetic
corpus, and the backbone of a recipe read from the store of backbones by recipe."""

from facevlm.pipelines.pretrain.pipeline import create_loading_pipeline, create_pipeline

__all__ = ["create_loading_pipeline", "create_pipeline"]

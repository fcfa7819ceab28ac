"""``face_reader``: the Face Landmarker's reading of every render, the second reader's input."""

from facevlm.pipelines.face_reader.pipeline import create_pipeline

__all__ = ["create_pipeline"]

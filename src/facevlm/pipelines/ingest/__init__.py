"""``ingest``: scan a dataset root into a scan index, a quarantine report and a fold table."""

from facevlm.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]

from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.datasets_in_use import datasets_in_use_node
from facevlm.pipelines.ingest.nodes import index_scans
from facevlm.pipelines.synthesize.pipeline import raw_scans_node


def create_pipeline(models: Mapping[str, str | None] | None = None, **kwargs) -> Pipeline:
    """Raw scans → scan index + quarantine report. Folds are the model pipelines' business;
    ``models`` only narrows which synthetic layouts are written (:mod:`..datasets_in_use`)."""
    return Pipeline(
        [
            datasets_in_use_node(models),
            raw_scans_node(),
            Node(
                index_scans,
                inputs=[
                    "raw_scans_manifest",
                    "params:dataset",
                    "params:caches.scan_index",
                    "params:render",
                ],
                outputs=["scan_index", "quarantine_report"],
                name="index_scans",
            ),
        ]
    )

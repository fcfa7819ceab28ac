from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.ingest.nodes import index_scans
from facevlm.pipelines.synthesize.pipeline import raw_scans_node


def create_pipeline(**kwargs) -> Pipeline:
    """Raw scans → scan index + quarantine report. Folds are the model pipelines' business."""
    return Pipeline(
        [
            raw_scans_node(),
            Node(
                index_scans,
                inputs=["raw_scans_manifest", "params:dataset", "params:caches.scan_index"],
                outputs=["scan_index", "quarantine_report"],
                name="index_scans",
            ),
        ]
    )

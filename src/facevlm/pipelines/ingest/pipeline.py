from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.ingest.nodes import index_scans, make_fold_table
from facevlm.pipelines.synthesize.pipeline import raw_scans_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            raw_scans_node(),
            Node(
                index_scans,
                inputs=["raw_scans_manifest", "params:dataset"],
                outputs=["scan_index", "quarantine_report"],
                name="index_scans",
            ),
            Node(
                make_fold_table,
                inputs=["scan_index", "params:protocol"],
                outputs="fold_table",
                name="make_fold_table",
            ),
        ]
    )

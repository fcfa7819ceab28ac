from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.synthesize.nodes import make_contact_sheet, prepare_raw_scans


def raw_scans_node() -> Node:
    """Shared by ``synthesize`` and ``ingest`` so each runs alone and the default runs it once."""
    return Node(
        prepare_raw_scans,
        inputs=["params:dataset", "params:synthetic"],
        outputs="raw_scans_manifest",
        name="prepare_raw_scans",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            raw_scans_node(),
            Node(
                make_contact_sheet,
                inputs=[
                    "raw_scans_manifest",
                    "params:dataset",
                    "params:contact_sheet",
                    "params:render",
                ],
                outputs="synthetic_contact_sheet",
                name="make_synthetic_contact_sheet",
            ),
        ]
    )

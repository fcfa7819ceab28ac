from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.datasets_in_use import DATASETS_IN_USE, datasets_in_use_node
from facevlm.pipelines.synthesize.nodes import make_contact_sheet, prepare_raw_scans


def raw_scans_node() -> Node:
    """Shared by ``synthesize`` and ``ingest`` so each runs alone and the default runs it once."""
    return Node(
        prepare_raw_scans,
        inputs=["params:dataset", "params:synthetic", DATASETS_IN_USE],
        outputs="raw_scans_manifest",
        name="prepare_raw_scans",
    )


def create_pipeline(models: Mapping[str, str | None] | None = None, **kwargs) -> Pipeline:
    """Raw scans (the synthetic layouts ``models`` read; all without models) → contact sheet."""
    return Pipeline(
        [
            datasets_in_use_node(models),
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

from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.datasets_in_use import DATASETS_IN_USE, datasets_in_use_node
from facevlm.pipelines.synthesize.nodes import prepare_raw_scans


def raw_scans_node() -> Node:
    """Shared by ``synthesize`` and ``ingest`` so each runs alone and the default runs it once."""
    return Node(
        prepare_raw_scans,
        inputs=["params:dataset", "params:synthetic", DATASETS_IN_USE],
        outputs="raw_scans_manifest",
        name="prepare_raw_scans",
    )


def create_pipeline(models: Mapping[str, str | None] | None = None, **kwargs) -> Pipeline:
    """Raw scans: the synthetic layouts ``models`` read (all without models) written, or a real
    dataset's root checked. The contact sheet is drawn at ingest, from the index's poses."""
    return Pipeline([datasets_in_use_node(models), raw_scans_node()])

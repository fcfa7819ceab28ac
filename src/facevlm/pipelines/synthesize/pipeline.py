from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.datasets_in_use import DATASETS_IN_USE, datasets_in_use_node
from facevlm.pipelines.synthesize.nodes import prepare_raw_scans


def raw_scans_node(dataset: str = "params:dataset", synthetic: str = "params:synthetic") -> Node:
    """Shared by ``synthesize`` and ``ingest`` so each runs alone and the default runs it once.

    ``dataset`` and ``synthetic``: where the dataset and synthetic-set settings come from, the
    top-level parameters or a dataset a node derives from them (a data ablation variant's own
    synthetic set, :mod:`facevlm.pipelines.training.data_variants`)."""
    return Node(
        prepare_raw_scans,
        inputs=[dataset, synthetic, DATASETS_IN_USE],
        outputs="raw_scans_manifest",
        name="prepare_raw_scans",
    )


def create_pipeline(
    models: Mapping[str, str | None] | None = None,
    dataset: str = "params:dataset",
    synthetic: str = "params:synthetic",
    **kwargs,
) -> Pipeline:
    """Raw scans: the synthetic layouts ``models`` read (all without models) written, or a real
    dataset's root checked. The contact sheet is drawn at ingest, from the index's poses.
    ``dataset``, ``synthetic``: as :func:`raw_scans_node`."""
    return Pipeline([datasets_in_use_node(models), raw_scans_node(dataset, synthetic)])

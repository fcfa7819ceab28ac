from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.datasets_in_use import datasets_in_use_node
from facevlm.pipelines.ingest.contact_sheet import make_contact_sheet
from facevlm.pipelines.ingest.nodes import index_scans
from facevlm.pipelines.synthesize.pipeline import raw_scans_node


def create_pipeline(
    models: Mapping[str, str | None] | None = None,
    contact_sheet: bool = True,
    dataset: str = "params:dataset",
    synthetic: str = "params:synthetic",
    **kwargs,
) -> Pipeline:
    """Raw scans → scan index + quarantine report, and the dataset's contact sheet drawn in the
    poses the index recorded (``contact_sheet=False``: none, as for the pretraining corpus).
    Folds are the model pipelines' business; ``models`` only narrows which synthetic layouts
    are written (:mod:`..datasets_in_use`). ``dataset``, ``synthetic``: where those settings come
    from (:func:`~facevlm.pipelines.synthesize.pipeline.raw_scans_node`)."""
    nodes = [
        datasets_in_use_node(models),
        raw_scans_node(dataset, synthetic),
        Node(
            index_scans,
            inputs=[
                "raw_scans_manifest",
                dataset,
                "params:caches.scan_index",
                "params:render",
            ],
            outputs=["scan_index", "quarantine_report"],
            name="index_scans",
        ),
    ]
    if contact_sheet:
        nodes.append(
            Node(
                make_contact_sheet,
                inputs=[
                    "raw_scans_manifest",
                    "scan_index",
                    dataset,
                    "params:contact_sheet",
                    "params:render",
                ],
                outputs="contact_sheet",
                name="make_contact_sheet",
            )
        )
    return Pipeline(nodes)

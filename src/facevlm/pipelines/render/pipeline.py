from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.datasets_in_use import DATASETS_IN_USE, datasets_in_use_node
from facevlm.pipelines.render.nodes import (
    render_apex_stills,
    render_samples,
    select_render_samples,
)


def create_pipeline(
    models: Mapping[str, str | None] | None = None,
    settings: str = "params:render",
    apex_stills: bool = True,
    **kwargs,
) -> Pipeline:
    """Scan index → the samples to render (those of the datasets ``models`` read; all without
    models) → their multiview renders, with the render settings ``settings`` (a parameter, or a
    dataset a node derives from one, as the pretraining corpus does). ``apex_stills``: also a
    still render of each sequence's apex frame (``apex_stills``), what the face reader reads of
    a sequence; a corpus no face reader reads does without."""
    nodes = [
        datasets_in_use_node(models),
        Node(
            select_render_samples,
            inputs=["scan_index", settings, DATASETS_IN_USE],
            outputs="render_samples",
            name="select_render_samples",
        ),
        Node(
            render_samples,
            inputs=["render_samples", settings, "params:caches.renders"],
            outputs=["renders", "render_failures"],
            name="render_samples",
        ),
    ]
    if apex_stills:
        nodes.append(
            Node(
                render_apex_stills,
                inputs=["render_samples", settings, "params:caches.renders"],
                outputs="apex_stills",
                name="render_apex_stills",
            )
        )
    return Pipeline(nodes)

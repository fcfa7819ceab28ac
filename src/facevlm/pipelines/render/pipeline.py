from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.datasets_in_use import DATASETS_IN_USE, datasets_in_use_node
from facevlm.pipelines.render.nodes import render_samples, select_render_samples


def create_pipeline(
    models: Mapping[str, str | None] | None = None, settings: str = "params:render", **kwargs
) -> Pipeline:
    """Scan index → the samples to render (those of the datasets ``models`` read; all without
    models) → their multiview renders, with the render settings ``settings`` (a parameter, or a
    dataset a node derives from one, as the pretraining corpus does)."""
    return Pipeline(
        [
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
    )

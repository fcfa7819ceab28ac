from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.render.nodes import render_samples, select_render_samples


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                select_render_samples,
                inputs=["scan_index", "params:render"],
                outputs="render_samples",
                name="select_render_samples",
            ),
            Node(
                render_samples,
                inputs=["render_samples", "params:render", "params:caches.renders"],
                outputs=["renders", "render_failures"],
                name="render_samples",
            ),
        ]
    )

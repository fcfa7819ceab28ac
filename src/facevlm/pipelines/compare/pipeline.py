from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.compare.nodes import compare_model_runs


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compare_model_runs,
                inputs="params:compare",
                outputs=["model_comparison", "model_comparison_plot", "model_comparison_run"],
                name="compare_model_runs",
            )
        ]
    )

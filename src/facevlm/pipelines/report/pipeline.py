from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.report.nodes import write_results_report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                write_results_report,
                inputs="params:report",
                outputs=["results_tables", "results_figures"],
                name="write_results_report",
            )
        ]
    )

from kedro.pipeline import Node, Pipeline

from facevlm.pipelines.report.nodes import check_results_report, write_results_report


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


def create_check_pipeline(**kwargs) -> Pipeline:
    """Does the MLflow store reproduce the committed figures? (``--pipeline=report_check``)"""
    return Pipeline(
        [
            Node(
                check_results_report,
                inputs=["results_figures", "params:report"],
                outputs=None,
                name="check_results_report",
            )
        ]
    )

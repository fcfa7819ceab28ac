from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, pipeline

from facevlm.pipelines.training.nodes import (
    build_prompt_bank,
    cross_validate_model,
    make_protocol_folds,
    report_model_run,
    run_ablations,
)

#: Datasets every model reads from the data stages (not namespaced).
SHARED_INPUTS = {"scan_index", "renders", "pretrained_backbone"}
SHARED_PARAMETERS = {"params:dataset"}


def _for_model(func, model: str):
    """``func`` with ``model=`` bound, keeping its name for Kedro-Viz."""
    return update_wrapper(partial(func, model=model), func)


def _protocol_folds_node() -> Node:
    """The model's own fold table (its protocol may select other rows than ingest's)."""
    return Node(
        make_protocol_folds,
        ["scan_index", "params:protocol"],
        "fold_table",
        name="make_protocol_folds",
    )


def create_pipeline(namespace: str, model: str) -> Pipeline:
    """Protocol folds → prompt bank → cross-validation → report, under ``namespace``.

    Args:
        namespace: prefix of this instance's datasets and parameters (``affectvlm``, ``smile``,
            ``smile_mer``): ``params:<namespace>.protocol``, ``<namespace>.fold_table``, ...
        model: which recipe trains it: ``affectvlm`` or ``smile``.
    """
    template = Pipeline(
        [
            _protocol_folds_node(),
            Node(
                build_prompt_bank,
                ["scan_index", "params:prompts", "params:experiment.data.classes"],
                "prompt_bank",
                name="build_prompt_bank",
            ),
            Node(
                _for_model(cross_validate_model, model),
                {
                    "renders": "renders",
                    "fold_table": "fold_table",
                    "prompt_bank": "prompt_bank",
                    "experiment": "params:experiment",
                    "dataset": "params:dataset",
                    "protocol": "params:protocol",
                    "pretrained_backbone": "pretrained_backbone",
                },
                ["cv_results", "model"],
                name="cross_validate",
            ),
            Node(
                report_model_run,
                ["cv_results", "model", "params:experiment", "params:protocol"],
                ["mlflow_run", "summary", "confusion_matrix", "training_curves", "fold_metrics"],
                name="report",
            ),
        ]
    )
    return pipeline(
        template, namespace=namespace, inputs=SHARED_INPUTS, parameters=SHARED_PARAMETERS
    )


def create_ablation_pipeline(namespace: str, model: str) -> Pipeline:
    """Every ablation variant of ``params:<namespace>_ablations`` on the model's folds, one MLflow
    run each, and the comparison table ``<namespace>.ablation_table``."""
    template = Pipeline(
        [
            _protocol_folds_node(),
            Node(
                _for_model(run_ablations, model),
                {
                    "renders": "renders",
                    "scan_index": "scan_index",
                    "fold_table": "fold_table",
                    "model_params": f"params:{namespace}",
                    "ablations": f"params:{namespace}_ablations",
                    "dataset": "params:dataset",
                    "pretrained_backbone": "pretrained_backbone",
                },
                ["ablation_runs", "ablation_table"],
                name="run_ablations",
            ),
        ]
    )
    return pipeline(
        template,
        namespace=namespace,
        inputs=SHARED_INPUTS,
        parameters=SHARED_PARAMETERS | {f"params:{namespace}", f"params:{namespace}_ablations"},
    )

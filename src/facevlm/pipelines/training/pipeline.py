"""The model pipelines: one template, instantiated once per model namespace.

A namespace (``affectvlm``, ``smile``, ``smile_mer``, ``affectvlm_ablation.one_view``, ...) reads
its parameters from a base block (``params:smile``) plus optional overrides
(``params:smile_mer`` lists only what differs from ``smile``; an ablation variant only what it
changes); the ``recipe`` parameter in them says which model trains. Every dataset it writes is
prefixed with the namespace, so each variant's artifacts are versioned and shown on their own in
Kedro-Viz.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, pipeline

from facevlm.experiments.model_parameters import resolve_model_parameters
from facevlm.pipelines.training.data_variants import (
    VARIANT_DATASET,
    create_variant_data_pipeline,
)
from facevlm.pipelines.training.nodes import (
    build_prompt_bank,
    cross_validate_model,
    fit_face_reader,
    fit_final_model,
    make_protocol_folds,
    prepare_training_data,
    report_model_run,
    score_frozen_backbone,
    tabulate_ablations,
)

#: Datasets every model reads from the data stages (not namespaced).
SHARED_INPUTS = {"scan_index", "renders", "pretrained_backbone", "face_actions"}
SHARED_PARAMETERS = {"params:dataset", "params:caches.training_runs"}


def _parameters_node(overrides: bool, variant: str | None) -> Node:
    inputs = {"model": "params:model"}
    if overrides:
        inputs["overrides"] = "params:overrides"
    func = resolve_model_parameters
    if variant is not None:  # the variant's name, bound for its run tags (picklable, named)
        func = update_wrapper(partial(resolve_model_parameters, variant=variant), func)
    return Node(func, inputs, "training_parameters", name="resolve_parameters")


def _training_nodes(dataset: str = "params:dataset") -> list[Node]:
    """Prompt bank and prepared data → frozen baseline → cross-validation → the face reader on
    the same folds → final fit (carrying the face reader) → report.

    Every namespace has the same nodes; the ``final_fit`` parameter decides whether the final
    fit trains on all subjects or keeps the last fold's model (no extra training). ``dataset``:
    the dataset settings the runs record (a data variant's own, with its own root)."""
    common = {
        "prepared": "training_data",
        "prompt_bank": "prompt_bank",
        "parameters": "training_parameters",
    }
    return [
        Node(
            build_prompt_bank,
            ["fold_table", "training_parameters"],
            "prompt_bank",
            name="prompt_bank",
        ),
        Node(
            prepare_training_data,
            {
                "renders": "renders",
                "fold_table": "fold_table",
                "parameters": "training_parameters",
                "pretrained_backbone": "pretrained_backbone",
            },
            "training_data",
            name="prepare_training_data",
        ),
        Node(score_frozen_backbone, common, "baseline_metrics", name="score_frozen_backbone"),
        Node(
            cross_validate_model,
            {
                **common,
                "dataset": dataset,
                "runs_dir": "params:caches.training_runs",
                "baseline_metrics": "baseline_metrics",
            },
            ["cv_results", "last_fold_model"],
            name="cross_validate",
        ),
        Node(
            fit_face_reader,
            {
                "face_actions": "face_actions",
                "result": "cv_results",
                "parameters": "training_parameters",
            },
            "face_reader",
            name="fit_face_reader",
        ),
        Node(
            fit_final_model,
            {
                **common,
                "dataset": dataset,
                "last_fold_model": "last_fold_model",
                "result": "cv_results",
                "runs_dir": "params:caches.training_runs",
                "face_reader": "face_reader",
            },
            "model",
            name="fit_final_model",
        ),
        Node(
            report_model_run,
            {
                "result": "cv_results",
                "parameters": "training_parameters",
                "bundle": "model",
                "scan_index": "scan_index",
                "fold_table": "fold_table",
                "dataset": dataset,
            },
            [
                "mlflow_run",
                "summary",
                "confusion_matrix",
                "training_curves",
                "fold_metrics",
                "embedding_plot",
                "reliability_diagram",
            ],
            name="report",
        ),
    ]


def _folds_node() -> Node:
    return Node(
        make_protocol_folds, ["scan_index", "training_parameters"], "fold_table", name="folds"
    )


def create_pipeline(namespace: str, base: str | None = None) -> Pipeline:
    """Parameters → protocol folds → prompt bank and prepared data → frozen baseline →
    cross-validation → final fit → report.

    Args:
        namespace: prefix of this instance's datasets (``<namespace>.fold_table``, ...).
        base: the parameter block it derives from (``smile`` for ``smile_mer``); ``None``: its
            own block, ``params:<namespace>``, holds everything.
    """
    template = Pipeline(
        [
            _parameters_node(overrides=base is not None, variant=None),
            _folds_node(),
            *_training_nodes(),
        ]
    )
    parameters = {"params:model": f"params:{base or namespace}"}
    if base is not None:
        parameters["params:overrides"] = f"params:{namespace}"
    return pipeline(
        template,
        namespace=namespace,
        inputs=SHARED_INPUTS,
        parameters=parameters | {p: p for p in SHARED_PARAMETERS},
    )


def ablation_namespace(model: str, variant: str) -> str:
    return f"{model}_ablation.{variant}"


def create_ablation_pipeline(
    model: str, variants: list[str], data_variants: Collection[str] = ()
) -> Pipeline:
    """Each variant of ``params:<model>_ablations`` as its own namespaced pipeline on the
    model's folds (``<model>.fold_table``), and ``<model>_ablation.table`` comparing them with
    the model itself (the ``baseline`` row, from ``<model>.summary``).

    A variant in ``data_variants`` (its block has a ``synthetic:`` key) changes the data too:
    its namespace holds its own data stages, face reader input and folds, and its figure is
    measured on its own held-out subjects (:mod:`.data_variants`).

    A variant's ``final_fit`` is off unless its override turns it on
    (:func:`resolve_model_parameters`): an ablation asks what a component adds under
    cross-validation, not which model to deploy. Its model stays in memory (the catalog's
    ``{model}_ablation.{variant}.model``) for the report.
    """
    pipelines = []
    for variant in variants:
        if variant in data_variants:
            pipelines.append(_data_variant_pipeline(model, variant))
            continue
        template = Pipeline([_parameters_node(overrides=True, variant=variant), *_training_nodes()])
        pipelines.append(
            pipeline(
                template,
                namespace=ablation_namespace(model, variant),
                inputs={**{i: i for i in SHARED_INPUTS}, "fold_table": f"{model}.fold_table"},
                parameters=_variant_parameters(model, variant) | {p: p for p in SHARED_PARAMETERS},
            )
        )
    summaries = {"baseline": f"{model}.summary"} | {
        v: f"{ablation_namespace(model, v)}.summary" for v in variants
    }
    table = pipeline(
        [Node(tabulate_ablations, summaries, "table", name="table")],
        namespace=f"{model}_ablation",
        inputs=set(summaries.values()),
    )
    return sum(pipelines, Pipeline([])) + table


def _variant_parameters(model: str, variant: str) -> dict[str, str]:
    """A variant's parameter blocks: the model's, with the variant's overrides."""
    return {
        "params:model": f"params:{model}",
        "params:overrides": f"params:{model}_ablations.{variant}",
    }


def _data_variant_pipeline(model: str, variant: str) -> Pipeline:
    """A variant with data of its own: its data stages and face reader input
    (:func:`.data_variants.create_variant_data_pipeline`), its folds on its scan index, and
    the model's training nodes, all under the variant's namespace; only the pretrained
    backbone and the settings of the stages (render, caches, face reader) are shared."""
    namespace = ablation_namespace(model, variant)
    data = create_variant_data_pipeline(model, variant, namespace)
    training = Pipeline(
        [
            _parameters_node(overrides=True, variant=variant),
            _folds_node(),
            *_training_nodes(dataset=VARIANT_DATASET),
        ]
    )
    # every parameter the stages read is the run's own (params:render, params:caches.*, ...),
    # not one of the namespace's: the variant changes only what its block says
    shared = {p for p in data.inputs() | training.inputs() if p.startswith("params:")}
    shared -= {"params:model", "params:overrides"}
    return pipeline(
        data + training,
        namespace=namespace,
        inputs={"pretrained_backbone"},
        parameters=_variant_parameters(model, variant) | {p: p for p in shared},
    )

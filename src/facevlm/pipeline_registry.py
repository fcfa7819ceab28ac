"""The project's pipelines, by name.

``__default__`` is what a new user runs first: the data stages (synthesize → ingest → render)
and then both models with their evaluation, on the built-in synthetic data. Every training
pipeline includes the data stages it needs, narrowed to the datasets its models read (a 3D
pipeline writes, indexes and renders only the BU-3DFE-style scans), and ``pretrain`` (the CPU
backbone's pretraining on a separate synthetic corpus); they reuse earlier work (same synthetic
seed and size, unchanged scans, same render settings), so a second run goes straight to
training.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from kedro.pipeline import Pipeline

from facevlm.model_namespaces import BASE_MODELS, DERIVED_MODELS, MODEL_NAMESPACES
from facevlm.pipelines import compare, ingest, pretrain, render, report, synthesize, training

#: The project's configuration, where the ablation variants are listed.
CONF_SOURCE = Path(__file__).resolve().parents[2] / "conf"


def ablation_variants(model: str, conf_source: Path = CONF_SOURCE) -> list[str]:
    """The variant names of ``<model>_ablations`` in ``conf/base`` and ``conf/local``.

    Pipelines are built before a session loads its parameters, so the names (each variant is a
    pipeline of its own) are read here from the parameter files; their *contents* are
    parameters like any other, resolved in the run.
    """
    import yaml

    names: dict[str, None] = {}
    for env in ("base", "local"):
        for path in sorted((conf_source / env).glob("**/parameters*.yml")):
            block = (yaml.safe_load(path.read_text()) or {}).get(f"{model}_ablations") or {}
            names.update(dict.fromkeys(block))
    return list(names)


def data_stages(*models: str) -> Pipeline:
    """synthesize → ingest → render, making only the data ``models`` (namespaces) read."""
    uses = {model: DERIVED_MODELS.get(model) for model in models}
    return (
        synthesize.create_pipeline(models=uses)
        + ingest.create_pipeline(models=uses)
        + render.create_pipeline(models=uses)
    )


def ready_for(*models: str) -> Pipeline:
    """What models need before training: their evaluation data and the pretrained backbone."""
    return data_stages(*models) + pretrain.create_pipeline()


def model_pipeline(model: str) -> Pipeline:
    """One model namespace's training pipeline, on its own or its base's parameter block."""
    return training.create_pipeline(model, base=DERIVED_MODELS.get(model))


def register_pipelines() -> dict[str, Pipeline]:
    trains = {model: model_pipeline(model) for model in MODEL_NAMESPACES}
    pipelines = {
        "synthesize": synthesize.create_pipeline(),
        "ingest": ingest.create_pipeline(),
        "render": render.create_pipeline(),
        "data": data_stages(),
        "pretrain": pretrain.create_pipeline(),
        **{f"train_{model}": ready_for(model) + trains[model] for model in MODEL_NAMESPACES},
        "compare": compare.create_pipeline(),
        "report": report.create_pipeline(),
        "report_check": report.create_check_pipeline(),
        "__default__": ready_for(*BASE_MODELS) + Pipeline([trains[m] for m in BASE_MODELS]),
    }
    for model in BASE_MODELS:
        with warnings.catch_warnings():
            # variants read their model's folds (`affectvlm.fold_table` from the namespace
            # `affectvlm_ablation.<variant>`): a deliberate cross-namespace name Kedro warns about
            warnings.filterwarnings("ignore", "One or more dataset names contain '.'")
            variants = training.create_ablation_pipeline(model, ablation_variants(model))
        pipelines[f"ablate_{model}"] = ready_for(model) + trains[model] + variants
    return pipelines

"""The project's pipelines, by name.

``__default__`` is what a new user runs first: the data stages (synthesize → ingest → render)
and then both models with their evaluation, on the built-in synthetic data. Every training
pipeline includes the data stages it needs, narrowed to the datasets its models read (a 3D
pipeline writes, indexes and renders only the BU-3DFE-style scans), and the CPU backbone
pretrained by the configured recipe, read from the store of backbones by recipe (the project
ships the default's; ``pretrain`` builds another recipe's on its synthetic corpus and keeps it
there). They reuse earlier work (same synthetic seed and size, unchanged scans, same render
settings), so a second run goes straight to training.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from kedro.pipeline import Pipeline

from facevlm import settings as project_settings
from facevlm.model_namespaces import BASE_MODELS, DERIVED_MODELS, MODEL_NAMESPACES
from facevlm.pipelines import (
    compare,
    expression_bank,
    face_reader,
    ingest,
    pretrain,
    render,
    report,
    synthesize,
    training,
)
from facevlm.pipelines.training.data_variants import declares_data

#: The project's configuration, where the ablation variants are declared.
CONF_SOURCE = Path(__file__).resolve().parents[2] / "conf"


def configuration_envs(conf_source: Path = CONF_SOURCE) -> list[str]:
    """The environments of ``conf_source`` besides ``base``: each folder beside it (``local``,
    ``paper``, one a user adds), whether or not it holds files yet."""
    base = project_settings.CONFIG_LOADER_ARGS.get("base_env", "base")
    return sorted(p.name for p in conf_source.iterdir() if p.is_dir() and p.name != base)


def declared_ablation_variants(conf_source: Path = CONF_SOURCE) -> dict[str, list[str]]:
    """``model -> variant names`` of each base model's ``<model>_ablations``, in any environment
    of ``conf_source``.

    Pipelines are built before a session knows its ``--env``, and each variant is a pipeline of
    its own, so the names are read here with the project's config loader, once per environment
    (base with that env over it, as a run would see them): a variant declared only in
    ``conf/paper`` is a pipeline too. A variant's *contents* are parameters like any other,
    resolved in the run; running one the chosen env does not declare fails on its missing
    ``params:<model>_ablations.<variant>``.
    """
    return {model: list(variants) for model, variants in _declared_variants(conf_source).items()}


def declared_data_variants(conf_source: Path = CONF_SOURCE) -> dict[str, list[str]]:
    """``model -> variant names`` of the variants that change the data (a ``synthetic:`` key in
    their block, :mod:`facevlm.pipelines.training.data_variants`) in any environment of
    ``conf_source``: each gets data stages of its own in its pipeline. An env that declares
    the variant without the key runs those stages on the model's settings, in the variant's
    own folders."""
    return {
        model: [name for name, changes_data in variants.items() if changes_data]
        for model, variants in _declared_variants(conf_source).items()
    }


def _declared_variants(conf_source: Path) -> dict[str, dict[str, bool]]:
    contents = _configuration_contents(conf_source)
    if contents not in _DECLARED_VARIANTS:
        _DECLARED_VARIANTS.clear()  # one configuration at a time is all a process reads
        _DECLARED_VARIANTS[contents] = _read_ablation_variants(conf_source)
    return _DECLARED_VARIANTS[contents]


#: :func:`declared_ablation_variants` by the contents of the configuration's files: Kedro
#: registers the pipelines twice in a ``kedro run`` (again once the run names its pipeline),
#: and each reading parses every env's parameters, about half a second.
_DECLARED_VARIANTS: dict[tuple, dict[str, dict[str, bool]]] = {}


def _configuration_contents(conf_source: Path) -> tuple[tuple[str, bytes], ...]:
    """Every file under ``conf_source``, by its path there, with what it holds."""
    files = (path for path in Path(conf_source).rglob("*") if path.is_file())
    return tuple(sorted((str(path.relative_to(conf_source)), path.read_bytes()) for path in files))


def _read_ablation_variants(conf_source: Path) -> dict[str, dict[str, bool]]:
    """``model -> variant -> whether it changes the data`` in any env, in declaration order."""
    args = project_settings.CONFIG_LOADER_ARGS
    base = args.get("base_env", "base")
    variants: dict[str, dict[str, bool]] = {model: {} for model in BASE_MODELS}
    # base alone when no other env exists (the default run env may not)
    for env in configuration_envs(conf_source) or [base]:
        loader = project_settings.CONFIG_LOADER_CLASS(
            conf_source=str(conf_source), **{**args, "default_run_env": env}
        )
        parameters = loader["parameters"]
        for model, declared in variants.items():
            for name, block in (parameters.get(f"{model}_ablations") or {}).items():
                declared[name] = declared.get(name, False) or declares_data(block)
    return variants


def ablation_variants(model: str, conf_source: Path = CONF_SOURCE) -> list[str]:
    """The variant names of ``<model>_ablations`` (:func:`declared_ablation_variants`)."""
    return declared_ablation_variants(conf_source)[model]


def data_stages(*models: str) -> Pipeline:
    """synthesize → ingest → render, making only the data ``models`` (namespaces) read."""
    uses = {model: DERIVED_MODELS.get(model) for model in models}
    return (
        synthesize.create_pipeline(models=uses)
        + ingest.create_pipeline(models=uses)
        + render.create_pipeline(models=uses)
    )


def ready_for(*models: str) -> Pipeline:
    """What models need before training: their evaluation data, the pretrained backbone of
    the configured recipe, read from the store of backbones by recipe (``pretrain`` builds
    one that is not there), and the Face Landmarker's reading of the renders (the face
    reader's input)."""
    return data_stages(*models) + pretrain.create_loading_pipeline() + face_reader.create_pipeline()


def model_pipeline(model: str) -> Pipeline:
    """One model namespace's training pipeline, on its own or its base's parameter block."""
    return training.create_pipeline(model, base=DERIVED_MODELS.get(model))


def register_pipelines() -> dict[str, Pipeline]:
    trains = {model: model_pipeline(model) for model in MODEL_NAMESPACES}
    default_models = (
        pretrain.create_loading_pipeline()
        + face_reader.create_pipeline()
        + Pipeline([trains[m] for m in BASE_MODELS])
    )
    pipelines = {
        "synthesize": synthesize.create_pipeline(),
        "ingest": ingest.create_pipeline(),
        "render": render.create_pipeline(),
        "face_reader": face_reader.create_pipeline(),
        "data": data_stages(),
        "pretrain": pretrain.create_pipeline(),
        **{f"train_{model}": ready_for(model) + trains[model] for model in MODEL_NAMESPACES},
        "compare": compare.create_pipeline(),
        "report": report.create_pipeline(),
        "report_check": report.create_check_pipeline(),
        # real people's expressions from labelled photos and FACS codes; not part of a training run
        "expression_bank": expression_bank.create_pipeline(),
        "__default__": data_stages(*BASE_MODELS) + default_models,
        # the default run's models on the scan index and renders already in the catalog (an
        # earlier run's, or copied from the machine that rendered them): a GPU node without VTK
        # trains here on what a workstation rendered
        "train_from_renders": default_models,
    }
    variants_of = declared_ablation_variants()
    data_variants_of = declared_data_variants()
    for model in BASE_MODELS:
        with warnings.catch_warnings():
            # variants read their model's folds (`affectvlm.fold_table` from the namespace
            # `affectvlm_ablation.<variant>`): a deliberate cross-namespace name Kedro warns about
            warnings.filterwarnings("ignore", "One or more dataset names contain '.'")
            variants = training.create_ablation_pipeline(
                model, variants_of[model], data_variants=data_variants_of[model]
            )
        pipelines[f"ablate_{model}"] = ready_for(model) + trains[model] + variants
    return pipelines

"""The project's pipelines, by name.

``__default__`` is what a new user runs first: the data stages (synthesize → ingest → render)
and then both models with their evaluation, on the built-in synthetic data. Every training
pipeline includes the data stages it needs and ``pretrain`` (the CPU backbone's pretraining on
a separate synthetic corpus); they reuse earlier work (same synthetic seed and size, unchanged
scans, same render settings), so a second run goes straight to training.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from kedro.pipeline import Pipeline

from facevlm.pipelines import compare, ingest, pretrain, render, synthesize, training

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


def register_pipelines() -> dict[str, Pipeline]:
    data = synthesize.create_pipeline() + ingest.create_pipeline() + render.create_pipeline()
    # what every model needs before training: the evaluation data and the pretrained backbone
    ready = data + pretrain.create_pipeline()
    affectvlm = training.create_pipeline("affectvlm")
    smile = training.create_pipeline("smile")
    smile_mer = training.create_pipeline("smile_mer", base="smile")
    affectvlm_4d = training.create_pipeline("affectvlm_4d", base="affectvlm")
    smile_4d = training.create_pipeline("smile_4d", base="smile")
    pipelines = {
        "synthesize": synthesize.create_pipeline(),
        "ingest": ingest.create_pipeline(),
        "render": render.create_pipeline(),
        "data": data,
        "pretrain": pretrain.create_pipeline(),
        "train_affectvlm": ready + affectvlm,
        "train_smile": ready + smile,
        "train_smile_mer": ready + smile_mer,
        "train_affectvlm_4d": ready + affectvlm_4d,
        "train_smile_4d": ready + smile_4d,
        "compare": compare.create_pipeline(),
        "__default__": ready + affectvlm + smile,
    }
    for model, base in (("affectvlm", affectvlm), ("smile", smile)):
        with warnings.catch_warnings():
            # variants read their model's folds (`affectvlm.fold_table` from the namespace
            # `affectvlm_ablation.<variant>`): a deliberate cross-namespace name Kedro warns about
            warnings.filterwarnings("ignore", "One or more dataset names contain '.'")
            variants = training.create_ablation_pipeline(model, ablation_variants(model))
        pipelines[f"ablate_{model}"] = ready + base + variants
    return pipelines

"""The project's pipelines, by name.

``__default__`` is what a new user runs first: the data stages (synthesize → ingest → render)
and then both models with their evaluation, on the built-in synthetic data. Every training
pipeline includes the data stages it needs and ``pretrain`` (the CPU backbone's pretraining on
a separate synthetic corpus); they reuse earlier work (same synthetic seed and size, unchanged
scans, same render settings), so a second run goes straight to training.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from facevlm.pipelines import compare, ingest, pretrain, render, synthesize, training


def register_pipelines() -> dict[str, Pipeline]:
    data = synthesize.create_pipeline() + ingest.create_pipeline() + render.create_pipeline()
    # what every model needs before training: the evaluation data and the pretrained backbone
    ready = data + pretrain.create_pipeline()
    affectvlm = training.create_pipeline("affectvlm", model="affectvlm")
    smile = training.create_pipeline("smile", model="smile")
    smile_mer = training.create_pipeline("smile_mer", model="smile")
    return {
        "synthesize": synthesize.create_pipeline(),
        "ingest": ingest.create_pipeline(),
        "render": render.create_pipeline(),
        "data": data,
        "pretrain": pretrain.create_pipeline(),
        "train_affectvlm": ready + affectvlm,
        "train_smile": ready + smile,
        "train_smile_mer": ready + smile_mer,
        "ablate_affectvlm": ready + training.create_ablation_pipeline("affectvlm", "affectvlm"),
        "ablate_smile": ready + training.create_ablation_pipeline("smile", "smile"),
        "compare": compare.create_pipeline(),
        "__default__": ready + affectvlm + smile,
    }

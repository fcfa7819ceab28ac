"""The project's pipelines, by name.

``__default__`` is what a new user runs first: the data stages (synthesize → ingest → render)
and then both models with their evaluation, on the built-in synthetic data. Every training
pipeline includes the data stages it needs; they reuse earlier work (same synthetic seed and
size, unchanged scans, same render settings), so a second run goes straight to training.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from facevlm.pipelines import ingest, render, synthesize, training


def register_pipelines() -> dict[str, Pipeline]:
    data = synthesize.create_pipeline() + ingest.create_pipeline() + render.create_pipeline()
    affectvlm = training.create_pipeline("affectvlm", model="affectvlm")
    smile = training.create_pipeline("smile", model="smile")
    smile_mer = training.create_pipeline("smile_mer", model="smile")
    return {
        "synthesize": synthesize.create_pipeline(),
        "ingest": ingest.create_pipeline(),
        "render": render.create_pipeline(),
        "data": data,
        "train_affectvlm": data + affectvlm,
        "train_smile": data + smile,
        "train_smile_mer": data + smile_mer,
        "ablate_affectvlm": data + training.create_ablation_pipeline("affectvlm", "affectvlm"),
        "ablate_smile": data + training.create_ablation_pipeline("smile", "smile"),
        "__default__": data + affectvlm + smile,
    }

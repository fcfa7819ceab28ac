"""The project's pipelines, by name.

``__default__`` is what a new user runs first: the data stages (synthesize → ingest → render)
and then both models with their evaluation, on the built-in synthetic data.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from facevlm.pipelines import ingest, render, synthesize


def register_pipelines() -> dict[str, Pipeline]:
    data = synthesize.create_pipeline() + ingest.create_pipeline() + render.create_pipeline()
    return {
        "synthesize": synthesize.create_pipeline(),
        "ingest": ingest.create_pipeline(),
        "render": render.create_pipeline(),
        "data": data,
        "__default__": data,
    }

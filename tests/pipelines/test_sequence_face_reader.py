"""A 4D model gets a face reader: each sequence's reading (of its apex still, by the face reader
pipeline) is keyed by the id of the sequence's sample, the pooled sample's (``render.frames:
surface_motion``, the built-in default) or that of its frames stacked as one sample (``uniform:K``,
the real datasets'), which the sequence model's folds hold, so the reader is fitted and calibrated
on its held-out folds as a 3D model's is."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from toy_model_run import (
    N_SUBJECTS,
    KeptMemoryDataset,
    index_and_renders,
    model_params,
    toy_face_actions,
)

from facevlm.datasets import PretrainedWeights, RenderSet
from facevlm.pipelines import training
from facevlm.render.sampling import stacked_sample_id
from facevlm.scans.labels import BASIC_EMOTIONS


def pooled_renders() -> tuple:
    """The toy scan index of two-frame sequences and a render set of one pooled sample per
    sequence, as ``surface_motion`` makes it: the (onset, apex) files, the apex's image."""
    index, frames = index_and_renders(frames=2)
    samples = frames.samples
    apex = (samples["frame"] == 1).to_numpy()
    pooled = samples[apex].reset_index(drop=True)
    pooled["sample_id"] = [f"toy/{s}/surface_motion" for s in pooled["sequence"]]
    onset_of = dict(zip(samples.loc[~apex, "sequence"], samples.loc[~apex, "path"], strict=True))
    pooled["frame_paths"] = [
        [onset_of[s], p] for s, p in zip(pooled["sequence"], pooled["path"], strict=True)
    ]
    pooled["pooled"] = True
    return index, RenderSet(pooled, frames.view_names, frames.settings, frames.images[apex])


def framewise_renders() -> tuple:
    """Three rendered frames per sequence (``uniform:3``), and the sequences as the apex stills
    name them: one row each, under the id of their frames stacked as one sample."""
    index, renders = index_and_renders(frames=3)
    first = renders.samples.drop_duplicates("sequence").reset_index(drop=True)
    first["sample_id"] = [
        stacked_sample_id(d, s) for d, s in zip(first["dataset"], first["sequence"], strict=True)
    ]
    return index, renders, SimpleNamespace(samples=first)


@pytest.mark.parametrize("sequence_sample", ["pooled", "stacked_frames"])
def test_a_4d_model_carries_a_face_reader_of_its_sequences(mlflow_tracking, sequence_sample):
    if sequence_sample == "pooled":
        index, renders = pooled_renders()
        sequences = renders
    else:
        index, renders, sequences = framewise_renders()
    pipe = training.create_pipeline("affectvlm_4d", base="affectvlm")
    datasets = {name: KeptMemoryDataset() for name in pipe.all_outputs()}
    actions = toy_face_actions(sequences)  # one reading per sequence, by its sample's id
    catalog = DataCatalog(
        {
            **datasets,
            "scan_index": MemoryDataset(index),
            "renders": MemoryDataset(renders, copy_mode="assign"),
            "face_actions": MemoryDataset(actions),
            "params:dataset": MemoryDataset({"name": "toy"}),
            "params:caches.training_runs": MemoryDataset("training_runs"),
            "pretrained_backbone": MemoryDataset(PretrainedWeights("", {"skipped": True})),
            "params:affectvlm": MemoryDataset(model_params("augmented")),
            # as conf/base gives the sequence models, the face reader on
            "params:affectvlm_4d": MemoryDataset(
                {
                    "task": "fer4d",
                    "experiment": {"data": {"frames": "views"}},
                    "face_reader": {"enabled": True},
                }
            ),
        }
    )

    SequentialRunner().run(pipe, catalog)

    result = catalog.load("affectvlm_4d.cv_results")
    held_out = [str(s) for fold in result.folds for s in fold.test_sample_ids]
    assert len(held_out) == len(BASIC_EMOTIONS) * N_SUBJECTS // 2, "one sample per sequence"
    assert set(held_out) <= set(actions["sample_id"]), "the folds hold the sequences' ids"
    reader = catalog.load("affectvlm_4d.face_reader")
    assert reader["enabled"], reader.get("reason")
    bundle = catalog.load("affectvlm_4d.model")
    assert bundle.face_reader == reader
    assert set(reader["head"]["classes"]) == set(BASIC_EMOTIONS)
    figures = reader["figures"]
    assert figures["reader_accuracy"] > 0.9, "the toy readings name each expression"
    assert 0.0 < figures["answered_coverage"] <= 1.0
    assert np.isfinite(figures["answered_accuracy"])

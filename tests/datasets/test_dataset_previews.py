"""Kedro-Viz previews of our datasets are JSON-serialisable and show what a person looks for."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from kedro.io import Version
from PIL import Image

from facevlm.datasets import (
    ModelBundle,
    ModelBundleDataset,
    PretrainedWeightsDataset,
    PreviewableParquetDataset,
    RenderSet,
    RenderSetDataset,
)
from facevlm.experiments.pretrain import PretrainedBackbone


def test_parquet_preview_turns_list_cells_into_text(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c"],
            "frame_paths": [["x/000.wrl", "x/001.wrl"], ["y.wrl"], ["z" * 200]],
            "intensity": [1, 2, None],
        }
    )
    dataset = PreviewableParquetDataset(
        filepath=str(tmp_path / "index.parquet"), version=Version(None, None)
    )
    dataset.save(frame)

    preview = dataset.preview(nrows=2)

    json.dumps(preview)  # what `kedro viz build` does; numpy arrays would fail here
    assert preview["columns"] == ["sample_id", "frame_paths", "intensity"]
    assert preview["data"][0] == ["a", "['x/000.wrl', 'x/001.wrl']", 1.0]
    assert len(preview["data"]) == 2
    long = PreviewableParquetDataset(
        filepath=str(tmp_path / "index.parquet"), version=Version(None, None)
    )
    assert long.preview(nrows=3)["data"][2][1].endswith("…")


def test_model_bundle_preview_describes_the_model_without_its_weights(tmp_path: Path):
    state = {"w": torch.zeros(3, 4), "b": torch.zeros(4)}
    bundle = ModelBundle("smile", {"n_views": 3}, state, ["anger", "joy"], {}, {"fold": 1})
    dataset = ModelBundleDataset(filepath=str(tmp_path / "model.pt"), version=Version(None, None))
    dataset.save(bundle)

    preview = json.loads(dataset.preview())  # Kedro-Viz parses JSON previews from text

    assert preview["model_name"] == "smile" and preview["classes"] == ["anger", "joy"]
    assert preview["n_parameters"] == 16
    assert preview["info"] == {"fold": 1}


def test_pretrained_weights_preview_is_the_description(tmp_path: Path):
    dataset = PretrainedWeightsDataset(filepath=str(tmp_path / "w.pt"), version=Version(None, None))
    backbone = PretrainedBackbone(
        architecture="facevlm-tiny",
        state_dict={"w": torch.from_numpy(np.ones(2))},
        history=[{"loss": 1.5}],
        holdout_zero_shot=0.5,
    )
    dataset.save(backbone)
    preview = json.loads(dataset.preview())
    assert preview["architecture"] == "facevlm-tiny" and preview["holdout_zero_shot"] == 0.5


def test_render_preview_shows_one_sample_of_each_expression(tmp_path: Path):
    expressions = ["anger", "anger", "anger", "happiness", "surprise"]
    images = np.zeros((5, 2, 8, 8, 3), dtype=np.uint8)
    for i in range(5):
        images[i] = 40 * i  # each sample its own grey level
    samples = pd.DataFrame({"sample_id": [f"s{i}" for i in range(5)], "expression": expressions})
    dataset = RenderSetDataset(filepath=str(tmp_path / "renders"), version=Version(None, None))
    dataset.save(RenderSet(samples, ["front", "left"], {}, images))

    grid = Image.open(io.BytesIO(base64.b64decode(dataset.preview())))

    assert grid.size == (2 * 8, 3 * 8), "three expressions, two views"
    rows = [grid.getpixel((0, 8 * r))[0] for r in range(3)]
    assert rows == [80, 120, 160], "samples 2, 3 and 4: the last of each expression"

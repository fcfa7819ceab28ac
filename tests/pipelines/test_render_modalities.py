"""The render node with ``render.modality: texture+shaded``, rendering for real.

Specification: every sample is rendered in each modality, one row per sample and modality
(column ``modality``, the first modality's rows first); each modality's images are exactly those
a render of that modality alone makes, from the same cache entries (adding ``shaded`` to a
textured run renders only the shaded views); a scan that cannot be rendered in one modality
(no texture) is left out of all and reported under that modality; the versioned render set
keeps the rows apart on disk and loads them back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facevlm.datasets.render_set import RenderSetDataset
from facevlm.pipelines.render.nodes import render_samples
from facevlm.render.fixtures import checker_texture, face_like_mesh
from facevlm.render.sampling import plan_render_samples
from facevlm.scans.formats import write_vrml

pytestmark = pytest.mark.slow

RENDER = {"size": 32, "views": [[0, 0], [20, 0]], "frames": "apex", "n_workers": 1}


@pytest.fixture
def samples(tmp_path) -> pd.DataFrame:
    """Two textured scans and one without its texture image."""
    rows = []
    for k, (stem, textured) in enumerate([("a", True), ("b", True), ("bare", False)]):
        if textured:
            Image.fromarray(checker_texture(64, 4)).save(tmp_path / f"{stem}.png")
        path = tmp_path / f"{stem}.wrl"
        write_vrml(
            path, face_like_mesh(n_side=24, nose_height=15 + 5 * k), texture_url=f"{stem}.png"
        )
        rows.append(
            {"dataset": "toy", "subject": "S1", "expression": "happiness", "path": str(path)}
        )
    return plan_render_samples(pd.DataFrame(rows), "apex")


def test_each_sample_is_rendered_in_each_modality_as_alone(samples, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    mixed, failures = render_samples(samples, {**RENDER, "modality": "texture+shaded"}, cache)

    assert mixed.modalities == ["texture", "shaded"]
    assert mixed.settings["modality"] == "texture+shaded"
    table = mixed.samples
    assert list(table["modality"]) == ["texture"] * 2 + ["shaded"] * 2
    assert list(table["sample_id"][:2]) == list(table["sample_id"][2:])
    assert not table["sample_id"].str.contains("bare").any(), "left out of every modality"
    (failure,) = failures.to_dict("records")
    assert failure["path"].endswith("bare.wrl") and failure["reason"].startswith("texture: ")

    images = mixed.to_array()
    texture, shaded = images[:2], images[2:]
    face = shaded.sum(-1) > 0
    assert face.mean() > 0.2
    assert (shaded[..., 0] == shaded[..., 2])[face].all(), "shaded renders are grey"
    assert np.abs(texture.astype(int) - shaded.astype(int)).mean() > 5

    def no_rendering(*args, **kwargs):
        raise AssertionError("a view in the render cache was rendered again")

    monkeypatch.setattr("facevlm.pipelines.render.nodes.render_many", no_rendering)
    textured = samples[~samples["sample_id"].str.contains("bare")]  # a failure is not cached
    for modality, expected in (("texture", texture), ("shaded", shaded)):
        alone, _ = render_samples(textured, {**RENDER, "modality": modality}, cache)
        assert "modality" not in alone.samples.columns, "one modality: today's render set"
        assert alone.settings["modality"] == modality
        np.testing.assert_array_equal(alone.to_array(), expected)

    dataset = RenderSetDataset(filepath=str(tmp_path / "renders"))
    dataset.save(mixed)
    loaded = dataset.load()
    assert loaded.modalities == ["texture", "shaded"]
    assert loaded.image_path(3, 1).relative_to(loaded.folder).parts[:2] == ("images", "shaded")
    assert loaded.image_path(3, 1).is_file()
    np.testing.assert_array_equal(loaded.to_array(), images)
    np.testing.assert_array_equal(
        loaded.subset(loaded.samples["modality"] == "shaded").to_array(), shaded
    )

"""RenderSetDataset: a versioned folder of PNGs + sample table that loads lazily."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError, Version
from PIL import Image

from facevlm.datasets import RenderSet, RenderSetDataset


def _render_set(n: int = 3, seed: int = 0) -> RenderSet:
    images = np.random.default_rng(seed).integers(0, 256, (n, 2, 16, 16, 3), dtype=np.uint8)
    samples = pd.DataFrame(
        {
            "sample_id": [f"bu3dfe/F000{i}/F000{i}_HA04WH_F3D" for i in range(n)],
            "expression": ["happiness"] * n,
        }
    )
    return RenderSet(samples, ["yaw+0_pitch+0", "yaw+20_pitch+0"], {"size": 16}, images)


def test_save_then_load_gives_the_same_pixels_and_table(tmp_path):
    original = _render_set()
    dataset = RenderSetDataset(filepath=str(tmp_path / "renders"), version=Version(None, None))
    dataset.save(original)

    loaded = RenderSetDataset(
        filepath=str(tmp_path / "renders"), version=Version(None, None)
    ).load()

    assert loaded.images is None, "loading must not read the images eagerly"
    assert list(loaded.samples["sample_id"]) == list(original.samples["sample_id"])
    assert loaded.view_names == original.view_names
    assert loaded.settings == {"size": 16}
    np.testing.assert_array_equal(loaded.to_array(), original.images)
    np.testing.assert_array_equal(loaded.views(1), original.images[1])


def test_each_save_is_a_new_version_and_an_old_one_can_be_loaded(tmp_path):
    path = str(tmp_path / "renders")
    first_dataset = RenderSetDataset(
        filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z")
    )
    first_dataset.save(_render_set(seed=1))
    RenderSetDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z")).save(
        _render_set(seed=2)
    )

    latest = RenderSetDataset(filepath=path, version=Version(None, None)).load()
    pinned = RenderSetDataset(
        filepath=path, version=Version("2026-01-01T00.00.00.000Z", None)
    ).load()

    np.testing.assert_array_equal(latest.to_array(), _render_set(seed=2).images)
    np.testing.assert_array_equal(pinned.to_array(), _render_set(seed=1).images)


def test_preview_is_a_png_grid_of_samples_by_views(tmp_path):
    dataset = RenderSetDataset(filepath=str(tmp_path / "renders"), version=Version(None, None))
    dataset.save(_render_set(n=3))

    preview = Image.open(io.BytesIO(base64.b64decode(dataset.preview(max_samples=2))))

    assert preview.size == (2 * 16, 2 * 16)  # 2 views wide, 2 samples high


def test_loading_a_missing_render_set_is_a_clear_error(tmp_path):
    dataset = RenderSetDataset(filepath=str(tmp_path / "nothing"), version=Version(None, None))
    with pytest.raises(DatasetError):
        dataset.load()


def test_render_set_rejects_duplicate_ids_and_mismatched_arrays():
    samples = pd.DataFrame({"sample_id": ["a", "a"]})
    with pytest.raises(ValueError, match="duplicate sample_id"):
        RenderSet(samples, ["v"], {}, np.zeros((2, 1, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="images must be"):
        RenderSet(
            pd.DataFrame({"sample_id": ["a", "b"]}), ["v"], {}, np.zeros((3, 1, 4, 4, 3), np.uint8)
        )


def test_subset_keeps_rows_and_images_together():
    render_set = _render_set(n=3)
    subset = render_set.subset([True, False, True])
    assert list(subset.samples["sample_id"]) == [
        render_set.samples.at[i, "sample_id"] for i in (0, 2)
    ]
    np.testing.assert_array_equal(subset.views(1), render_set.images[2])


# ---- the view store beside the PNGs -------------------------------------------------------------


def test_save_writes_the_views_once_as_an_array_that_training_reads_lazily(tmp_path):
    from facevlm.scans.view_store import ViewArray

    original = _render_set(n=4)
    dataset = RenderSetDataset(filepath=str(tmp_path / "renders"), version=Version(None, None))
    dataset.save(original)
    loaded = dataset.load()
    folder = loaded.folder
    np.testing.assert_array_equal(np.load(folder / "views.npy"), original.images)

    subset = loaded.subset([False, True, False, True])
    lazy = subset.view_array()
    assert isinstance(lazy, ViewArray) and lazy.shape == (2, 2, 16, 16, 3)
    np.testing.assert_array_equal(np.asarray(lazy), original.images[[1, 3]])
    np.testing.assert_array_equal(subset.subset([False, True]).views(0), original.images[3])
    png = np.asarray(Image.open(loaded.image_path(2, 1)).convert("RGB"))
    np.testing.assert_array_equal(png, loaded.views(2)[1])  # the PNGs show the same pixels


def test_a_render_set_saved_before_the_view_store_gets_it_on_first_use(tmp_path):
    dataset = RenderSetDataset(filepath=str(tmp_path / "renders"), version=Version(None, None))
    original = _render_set(n=3)
    dataset.save(original)
    folder = dataset.load().folder
    (folder / "views.npy").unlink()  # an older version of the format
    (folder / "views.json").unlink()

    loaded = dataset.load()
    np.testing.assert_array_equal(loaded.views(1), original.images[1])  # from the PNGs
    assert not (folder / "views.npy").exists(), "reading one sample writes nothing"
    np.testing.assert_array_equal(
        np.asarray(loaded.subset([True, False, True]).view_array()), original.images[[0, 2]]
    )
    assert (folder / "views.npy").exists()

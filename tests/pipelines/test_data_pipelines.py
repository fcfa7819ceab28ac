"""The data stages (synthesize → ingest → render) run for real on a tiny synthetic set."""

from __future__ import annotations

import os

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image
from toy_model_run import KeptMemoryDataset

from facevlm.pipeline_registry import register_pipelines
from facevlm.scans.protocols import make_folds

pytestmark = pytest.mark.slow


def _catalog(params: dict) -> DataCatalog:
    """Parameters plus an in-memory dataset for every output of the data pipelines."""
    datasets = {f"params:{name}": MemoryDataset(value) for name, value in params.items()}
    for block in ("caches", "dataset"):  # nodes read single keys of these blocks too
        for key, value in params[block].items():
            datasets[f"params:{block}.{key}"] = MemoryDataset(value)
    for name in register_pipelines()["data"].all_outputs():
        datasets[name] = KeptMemoryDataset()
    return DataCatalog(datasets)


def _run(pipeline_name: str, catalog: DataCatalog) -> None:
    SequentialRunner().run(register_pipelines()[pipeline_name], catalog)


def test_data_pipelines_synthesize_index_and_render_every_sample_and_a_rerun_reuses_them(
    tiny_params, tmp_path, monkeypatch
):
    """One test for both: the rerun needs a first run of the same data stages, and this one is
    the costliest of its module (every layout synthesized, indexed and rendered)."""
    monkeypatch.chdir(tmp_path)  # caches live under ./data
    catalog = _catalog(tiny_params)

    _run("data", catalog)

    manifest = catalog.load("raw_scans_manifest")
    assert manifest["generated"] and manifest["dataset"] == "synthetic"

    index = catalog.load("scan_index")
    quarantine = catalog.load("quarantine_report")
    problems = quarantine[quarantine["stage"] != "skipped"]  # e.g. Bosphorus AU scans: subset
    assert problems.empty, problems.to_dict("records")
    styles = set(index["dataset"])
    assert styles == {f"synthetic-{s}" for s in ("bu3dfe", "bu4dfe", "bosphorus", "bp4d", "4dme")}
    bu3dfe = index[index["dataset"] == "synthetic-bu3dfe"]
    assert len(bu3dfe) == 3 * 25  # 3 subjects x (6 emotions x 4 intensities + neutral)

    assert "fold_table" not in register_pipelines()["ingest"].all_outputs(), "models make folds"
    folds = make_folds(index, tiny_params["protocol"])
    test_subjects = folds.groupby("fold")["subject"].apply(set)
    assert not set.intersection(*test_subjects), "a subject is in two folds"

    renders = catalog.load("renders")
    samples = catalog.load("render_samples")
    assert len(renders) == len(samples) > len(bu3dfe)
    images = renders.to_array()
    assert images.shape[1:] == (3, 64, 64, 3)
    assert images.reshape(len(images), -1).std(axis=1).min() > 5, "a render is blank"
    views_differ = np.abs(images[:, 0].astype(int) - images[:, 1].astype(int)).mean(axis=(1, 2, 3))
    assert views_differ.min() > 1, "frontal and +20° views are identical"

    frontal = renders.samples.assign(index=range(len(renders)))
    subject = frontal[(frontal["dataset"] == "synthetic-bu3dfe") & (frontal["intensity"] == 4)]
    subject = subject[subject["subject"] == subject["subject"].iloc[0]]
    by_expression = {
        row.expression: images[row.index, 0].astype(int) for row in subject.itertuples()
    }
    assert len(by_expression) == 6
    names = sorted(by_expression)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            difference = np.abs(by_expression[first] - by_expression[second]).mean()
            assert difference > 0.5, f"{first} and {second} render alike"

    sheet = catalog.load("contact_sheet")
    assert isinstance(sheet, Image.Image) and sheet.width > 7 * 64

    # the same parameters again: the synthetic files, the index and the renders are reused
    first_wrl = next((tmp_path / "raw" / "synthetic" / "BU-3DFE").rglob("*.wrl"))
    mtime = first_wrl.stat().st_mtime_ns

    def no_reading(*args, **kwargs):
        raise AssertionError("an unchanged scan was parsed again")

    def no_rendering(*args, **kwargs):
        raise AssertionError("an unchanged scan was rendered again")

    monkeypatch.setattr("facevlm.scans.layouts.scan_index.validate_scan", no_reading)
    monkeypatch.setattr("facevlm.pipelines.render.nodes.render_many", no_rendering)
    catalog = _catalog(tiny_params)
    _run("data", catalog)

    assert first_wrl.stat().st_mtime_ns == mtime, "synthetic files were written again"
    assert len(catalog.load("renders")) == len(catalog.load("render_samples"))


def test_ingest_of_a_missing_real_root_fails_with_the_path(tiny_params, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = {
        **tiny_params,
        "dataset": {**tiny_params["dataset"], "name": "bu3dfe", "root": str(tmp_path / "nowhere")},
    }
    with pytest.raises(Exception, match="nowhere"):
        _run("ingest", _catalog(params))


def test_a_folder_of_one_subject_ingests(tiny_params, tmp_path, monkeypatch):
    """Ingest needs no protocol: one subject is a valid dataset (folds come later, per model)."""
    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

    monkeypatch.chdir(tmp_path)
    config = {**tiny_params["synthetic"], "n_subjects": 1, "layouts": ["bu3dfe"]}
    generate_synthetic_dataset(tmp_path / "one", SyntheticConfig(**config))
    root = tmp_path / "one" / "BU-3DFE"
    params = {
        **tiny_params,
        "dataset": {**tiny_params["dataset"], "name": "bu3dfe", "root": str(root)},
    }
    catalog = _catalog(params)

    _run("ingest", catalog)

    index = catalog.load("scan_index")
    assert index["subject"].nunique() == 1 and len(index) == 25
    quarantine = catalog.load("quarantine_report")
    assert (quarantine["stage"] == "skipped").all(), quarantine.to_dict("records")


def test_a_real_folder_missing_a_texture_atlas_ingests_and_draws_that_scan_shaded(
    tiny_params, tmp_path, monkeypatch, caplog
):
    """A BU-3DFE folder whose happiness scan lost its ``_F3D.bmp``, ingested with
    ``allow_missing_texture`` and the dataset's texture modality: the scan is indexed and the
    contact sheet draws it shaded, as ``facevlm predict`` does, instead of failing the run on
    a mesh that has UVs and no image."""
    from facevlm.render.renderer import MultiviewRenderer
    from facevlm.render.settings import split_render_params
    from facevlm.scans.formats import read_mesh
    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

    monkeypatch.chdir(tmp_path)
    config = {**tiny_params["synthetic"], "n_subjects": 1, "layouts": ["bu3dfe"]}
    generate_synthetic_dataset(tmp_path / "one", SyntheticConfig(**config))
    root = tmp_path / "one" / "BU-3DFE"
    (atlas,) = root.rglob("*_HA04*_F3D.bmp")  # the sheet's happiness tile: the top intensity
    atlas.unlink()
    scan = atlas.with_suffix(".wrl")
    dataset = {"name": "bu3dfe", "root": str(root), "allow_missing_texture": True}
    params = {**tiny_params, "dataset": {**tiny_params["dataset"], **dataset}}
    drawn = {}

    def keep_rows(rows, **labels):
        drawn["rows"], drawn["columns"] = rows, labels["column_labels"]
        return np.zeros((8, 8, 3), dtype=np.uint8)

    monkeypatch.setattr("facevlm.render.contact_sheet.contact_sheet", keep_rows)
    catalog = _catalog(params)

    _run("ingest", catalog)

    index = catalog.load("scan_index")
    assert len(index) == 25
    assert not index.set_index("path").loc[os.path.abspath(scan), "has_texture"]
    tile = drawn["rows"][0][drawn["columns"].index("happiness")]
    assert tile is not None, "the untextured scan was left blank"
    frontal = {**params["render"], "size": params["contact_sheet"]["size"], "views": [[0, 0]]}
    shaded = split_render_params({**frontal, "modality": "shaded"})[0]
    with MultiviewRenderer(shaded) as renderer:
        assert np.array_equal(tile, renderer.render(read_mesh(scan))[0])
    assert any(scan.name in r.message and "texture missing" in r.message for r in caplog.records)


def test_a_models_data_stages_make_only_the_datasets_it_reads(tiny_params, tmp_path, monkeypatch):
    """A 3D model's run writes, indexes and renders only the BU-3DFE-style scans; a 4D model's
    run later adds the BU-4DFE-style ones beside them without writing those again."""
    from facevlm.pipeline_registry import data_stages

    monkeypatch.chdir(tmp_path)
    params = {
        **tiny_params,
        "affectvlm": {"protocol": {"datasets": ["synthetic-bu3dfe"]}},
        "affectvlm_4d": {"protocol": {"datasets": ["synthetic-bu4dfe"]}},
    }
    raw = tmp_path / "raw" / "synthetic"

    catalog = _catalog(params)
    SequentialRunner().run(data_stages("affectvlm"), catalog)
    assert sorted(p.name for p in raw.iterdir() if p.is_dir()) == ["BU-3DFE"]
    assert set(catalog.load("scan_index")["dataset"]) == {"synthetic-bu3dfe"}
    assert set(catalog.load("renders").samples["dataset"]) == {"synthetic-bu3dfe"}
    bu3dfe_mtimes = {p: p.stat().st_mtime_ns for p in (raw / "BU-3DFE").rglob("*.wrl")}

    catalog = _catalog(params)
    SequentialRunner().run(data_stages("affectvlm_4d"), catalog)
    assert sorted(p.name for p in raw.iterdir() if p.is_dir()) == ["BU-3DFE", "BU-4DFE"]
    assert {p: p.stat().st_mtime_ns for p in (raw / "BU-3DFE").rglob("*.wrl")} == bu3dfe_mtimes
    assert set(catalog.load("renders").samples["dataset"]) == {"synthetic-bu4dfe"}


def test_a_model_reading_a_dataset_the_index_lacks_fails_at_rendering(
    tiny_params, tmp_path, monkeypatch
):
    from facevlm.pipelines.render.nodes import select_render_samples

    monkeypatch.chdir(tmp_path)
    catalog = _catalog(
        {**tiny_params, "synthetic": {**tiny_params["synthetic"], "layouts": ["bu3dfe"]}}
    )
    _run("ingest", catalog)
    with pytest.raises(ValueError, match=r"synthetic-bu4dfe.*synthetic-bu3dfe"):
        select_render_samples(
            catalog.load("scan_index"), tiny_params["render"], {"datasets": ["synthetic-bu4dfe"]}
        )

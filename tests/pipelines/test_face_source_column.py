"""Which face model made each synthetic subject's face reaches the scan index and the samples:
the real ``ingest`` pipeline on a tiny generated set, then the render stage's sample plan."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from toy_model_run import KeptMemoryDataset

from facevlm.pipeline_registry import register_pipelines
from facevlm.pipelines.ingest.nodes import index_scans
from facevlm.pipelines.render.nodes import select_render_samples

pytestmark = pytest.mark.slow


def _ingest(params: dict) -> DataCatalog:
    """Run the ``ingest`` pipeline (synthesize, index) on in-memory parameters."""
    datasets = {f"params:{name}": MemoryDataset(value) for name, value in params.items()}
    for block in ("caches", "dataset"):
        for key, value in params[block].items():
            datasets[f"params:{block}.{key}"] = MemoryDataset(value)
    pipeline = register_pipelines()["ingest"]
    datasets.update({name: KeptMemoryDataset() for name in pipeline.all_outputs()})
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_the_face_source_of_each_subject_reaches_the_index_and_the_samples(
    tiny_params, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    # two subjects: the first of each source
    synthetic = {**tiny_params["synthetic"], "n_subjects": 2, "layouts": ["bu3dfe"], "workers": 1}
    params = {**tiny_params, "synthetic": {**synthetic, "face_sources": ["procedural", "ict"]}}
    catalog = _ingest(params)

    manifest = catalog.load("raw_scans_manifest")
    subjects = manifest["synthetic"]["layouts"]["bu3dfe"]["subjects"]
    recorded = {s["subject"]: s["face_source"] for s in subjects}
    assert [s["face_source"] for s in subjects] == ["procedural", "ict"]
    index = catalog.load("scan_index")
    by_subject = index.groupby("subject")["face_source"].unique()
    assert {s: list(v) for s, v in by_subject.items()} == {s: [v] for s, v in recorded.items()}

    samples = select_render_samples(index, params["render"])
    assert (samples["face_source"] == samples["subject"].map(recorded)).all()

    # a manifest written before face sources existed names none: its faces are procedural
    legacy = copy.deepcopy(manifest)
    for subject in legacy["synthetic"]["layouts"]["bu3dfe"]["subjects"]:
        del subject["face_source"]
    old_index, _ = index_scans(legacy, params["dataset"], params["caches"]["scan_index"])
    assert set(old_index["face_source"]) == {"procedural"}

    # the same files read as a real BU-3DFE release: people have no face model, the column
    # stays empty (and the samples carry the empty value)
    real = {**params["dataset"], "name": "bu3dfe", "root": str(tmp_path / "raw/synthetic/BU-3DFE")}
    real_index, _ = index_scans(
        {"dataset": "bu3dfe", "root": real["root"], "generated": False},
        real,
        params["caches"]["scan_index"],
    )
    assert len(real_index) == len(index) and real_index["face_source"].isna().all()
    real_samples = select_render_samples(real_index, params["render"])
    assert pd.isna(real_samples["face_source"]).all()

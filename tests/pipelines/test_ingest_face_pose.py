"""Ingest finds the face's pose (one per sequence), records it in the scan index and
quarantines meshes without a face; the render node draws each file in its recorded pose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _posed_cases import non_face
from scipy.spatial.transform import Rotation

from facevlm.cores import available_cores
from facevlm.pipelines.ingest.nodes import index_scans, index_workers
from facevlm.render.face_pose import MIN_CENTRAL, FacePose
from facevlm.scans.formats.vrml import write_vrml


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """One BU-3DFE-style subject and one BU-4DFE-style subject (5-frame sequences), with one
    static scan and the middle frame of one sequence replaced by a ball."""
    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

    root = tmp_path_factory.mktemp("poses") / "synthetic"
    generate_synthetic_dataset(
        root,
        SyntheticConfig(
            seed=3,
            n_subjects=1,
            n_subjects_4d=1,
            n_frames=5,
            layouts=("bu3dfe", "bu4dfe"),
            resolution=1500,
            resolution_4d=1500,
            texture_size=64,
            texture_size_4d=64,
            workers=1,
        ),
    )
    ball = non_face("sphere")
    static = sorted(root.rglob("*_F3D.wrl"))[0]
    write_vrml(static, ball)
    frames = sorted(
        sorted({p.parent for p in root.rglob("*.wrl") if "_F3D" not in p.name})[0].glob("*.wrl")
    )
    write_vrml(frames[len(frames) // 2], ball)
    return root


def _ingest(root: Path, pose: str, cache: Path):
    dataset = {"name": "synthetic", "n_workers": 1, "allow_missing_texture": True}
    return index_scans({"root": str(root)}, dataset, str(cache), {"pose": pose})


@pytest.fixture(scope="module")
def estimated(dataset, tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """The first ingest of ``dataset`` with ``pose: estimate``: its scan index, its quarantine
    report and its cache folder. Made once: three tests start from it, and estimating every
    scan's pose is the costly part of each (the tests only read it; a test that ingests again
    works on a copy of the cache)."""
    cache = tmp_path_factory.mktemp("estimated") / "cache"
    index, quarantine = _ingest(dataset, "estimate", cache)
    return index, quarantine, cache


def test_ingest_records_one_pose_per_scan_and_sequence_and_quarantines_non_faces(
    dataset, estimated
):
    index, quarantine, _ = estimated
    refused = quarantine[quarantine["stage"] == "pose"]
    ball = sorted(dataset.rglob("*_F3D.wrl"))[0]
    assert str(ball) in set(refused["path"])
    assert refused["reason"].str.contains("no face found").any()
    assert str(ball) not in set(index["path"])
    # the sequence whose middle frame is the ball is quarantined whole, the others are kept
    broken = index[index["sequence"].notna()]["sequence"].unique()
    assert len(broken) >= 1
    assert refused["reason"].str.contains("no face pose").sum() == 4  # its other 4 frames
    # every indexed scan has a pose; all frames of a sequence share one
    assert index["face_pose"].notna().all()
    for _, frames in index[index["sequence"].notna()].groupby("sequence"):
        assert frames["face_pose"].nunique() == 1
    pose = FacePose.from_json(index["face_pose"].iloc[0])
    assert pose.estimated and 0.4 < pose.central <= 1.0
    assert np.allclose(pose.rotation @ pose.rotation.T, np.eye(3), atol=1e-4)


def test_as_stored_neither_estimates_nor_refuses(dataset, tmp_path):
    index, quarantine = _ingest(dataset, "as_stored", tmp_path / "cache")
    assert index["face_pose"].isna().all()
    assert not (quarantine["stage"] == "pose").any()
    ball = sorted(dataset.rglob("*_F3D.wrl"))[0]
    assert str(ball) in set(index["path"])


def test_the_render_node_draws_a_file_in_its_recorded_pose(estimated, tmp_path):
    """The render pipeline uses the index's pose (the sequence's, for a frame) and keys its
    cache on it: a different recorded pose gives a different, freshly rendered image."""
    from facevlm.pipelines.render.nodes import render_samples

    index, _, _ = estimated
    row = index[index["sequence"].isna()].iloc[0]
    recorded = FacePose.from_json(row["face_pose"])
    rolled = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    turned = FacePose(recorded.rotation @ rolled, recorded.centre, recorded.radius)
    params = {"size": 48, "modality": "shaded", "pose": "estimate", "n_workers": 1}

    def render(pose: FacePose) -> np.ndarray:
        samples = pd.DataFrame(
            {
                "sample_id": ["s"],
                "dataset": ["synthetic"],
                "subject": ["x"],
                "frame": pd.array([None], dtype="Int64"),
                "frame_paths": [[row["path"]]],
                "pooled": [False],
                "face_pose": [pose.to_json()],
            }
        )
        render_set, failures = render_samples(samples, params, str(tmp_path / "renders"))
        assert failures.empty
        return render_set.images[0]

    upright, sideways = render(recorded), render(turned)
    assert not np.array_equal(upright, sideways)
    assert len(list((tmp_path / "renders").glob("*.npy"))) == 2
    corr = lambda a, b: np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]  # noqa: E731
    assert corr(np.rot90(sideways[0]), upright[0]) > corr(sideways[0], upright[0])
    assert json.loads(turned.to_json())["version"] >= 1


@pytest.mark.slow
def test_every_built_in_style_is_found_as_a_face(tiny_params, tmp_path, monkeypatch):
    """The data pipelines with ``render.pose: estimate`` on the tiny built-in set: no built-in
    scan of any style is refused as a non-face, and every frame of a sequence shares a pose."""
    from test_data_pipelines import _catalog, _run

    monkeypatch.chdir(tmp_path)
    params = {**tiny_params, "render": {**tiny_params["render"], "pose": "estimate"}}
    catalog = _catalog(params)
    _run("ingest", catalog)
    index, quarantine = catalog.load("scan_index"), catalog.load("quarantine_report")
    refused = quarantine[quarantine["stage"] == "pose"]
    assert refused.empty, refused[["path", "reason"]].head(8).to_string()
    assert index["face_pose"].notna().all()
    sequences = index[index["sequence"].notna()].groupby(["dataset", "sequence"])
    assert (sequences["face_pose"].nunique() == 1).all()
    scores = [FacePose.from_json(text).central for text in index["face_pose"]]
    assert min(scores) >= MIN_CENTRAL


def test_a_second_ingest_reuses_the_poses_and_a_switch_reads_again(
    dataset, estimated, tmp_path, monkeypatch
):
    import shutil

    import facevlm.scans.layouts.scan_index as scan_index

    first, quarantine, first_cache = estimated
    cache = shutil.copytree(first_cache, tmp_path / "cache")
    refused = set(quarantine.loc[quarantine["stage"] == "pose", "path"])
    calls = []
    real = scan_index.validate_scan
    monkeypatch.setattr(scan_index, "validate_scan", lambda job: calls.append(job) or real(job))
    again, _ = _ingest(dataset, "estimate", cache)
    assert list(again["face_pose"]) == list(first["face_pose"])
    # only the quarantined files are read again (they have no row to reuse)
    assert {job.path for job in calls} <= refused and calls
    calls.clear()
    stored, _ = _ingest(dataset, "as_stored", cache)
    assert stored["face_pose"].isna().all() and len(calls) >= len(first)


def test_a_null_worker_count_poses_the_scans_on_every_available_core():
    """``dataset.n_workers: null`` (the default) means one process per core, as for the render
    stage: the face pose is the index's time, and one process would leave the others idle."""
    assert index_workers({"n_workers": None}) == available_cores()
    assert index_workers({}) == available_cores()
    assert index_workers({"n_workers": 1}) == 1  # in this process, as the tests ask
    assert index_workers({"n_workers": 3}) == 3

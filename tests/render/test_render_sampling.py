"""From a scan index to render samples: static scans once, sequences by frame selection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from facevlm.render.cache import RenderCache
from facevlm.render.sampling import plan_render_samples


def _index() -> pd.DataFrame:
    rows = [
        {
            "dataset": "bu3dfe",
            "subject": "F0001",
            "expression": "happiness",
            "sequence": None,
            "frame": None,
            "path": "/d/F0001/F0001_HA04WH_F3D.wrl",
            "extra": "{}",
        },
    ]
    for frame in range(10):  # a 10-frame BU-4DFE sequence, listed out of order on purpose
        rows.append(
            {
                "dataset": "bu4dfe",
                "subject": "F001",
                "expression": "surprise",
                "sequence": "F001/Surprise",
                "frame": 9 - frame,
                "path": f"/d/F001/Surprise/{9 - frame:03d}.wrl",
                "extra": "{}",
            }
        )
    for frame in range(20, 28):  # a micro-expression clip whose labelled apex is frame 23
        rows.append(
            {
                "dataset": "4dme",
                "subject": "S01",
                "expression": "positive",
                "sequence": "S01/clip1",
                "frame": frame,
                "path": f"/d/S01/clip1/{frame}.obj",
                "extra": json.dumps({"onset": 20, "apex": 23, "offset": 27}),
            }
        )
    return pd.DataFrame(rows)


def test_static_scans_are_one_sample_each_with_their_metadata():
    samples = plan_render_samples(_index(), "uniform:3")
    static = samples[samples["dataset"] == "bu3dfe"]
    assert len(static) == 1
    assert static.iloc[0]["frame_paths"] == ["/d/F0001/F0001_HA04WH_F3D.wrl"]
    assert static.iloc[0]["expression"] == "happiness"
    assert not static.iloc[0]["pooled"]


def test_uniform_selects_k_frames_in_time_order():
    samples = plan_render_samples(_index(), "uniform:3")
    sequence = samples[samples["dataset"] == "bu4dfe"]
    frames = list(sequence["frame"])
    assert len(frames) == 3 and frames == sorted(frames)
    assert all(
        p == [f"/d/F001/Surprise/{f:03d}.wrl"]
        for p, f in zip(sequence["frame_paths"], frames, strict=True)
    )
    assert sequence["sample_id"].is_unique


def test_micro_expression_clips_always_include_the_labelled_apex():
    samples = plan_render_samples(_index(), "uniform:2")
    clip = samples[samples["dataset"] == "4dme"]
    assert 23 in set(clip["frame"])


def test_apex_uses_the_label_when_present_and_the_middle_otherwise():
    samples = plan_render_samples(_index(), "apex")
    assert list(samples.loc[samples["dataset"] == "4dme", "frame"]) == [23]
    assert list(samples.loc[samples["dataset"] == "bu4dfe", "frame"]) == [4]


def test_dynamic_image_pools_the_whole_sequence_into_one_sample():
    samples = plan_render_samples(_index(), "dynamic_image")
    sequence = samples[samples["dataset"] == "bu4dfe"].iloc[0]
    assert sequence["pooled"]
    assert len(sequence["frame_paths"]) == 10
    clip = samples[samples["dataset"] == "4dme"].iloc[0]
    assert len(clip["frame_paths"]) == 8  # onset 20 .. offset 27


def test_magnified_pools_onset_and_apex_into_one_sample():
    samples = plan_render_samples(_index(), "magnified:4")
    clip = samples[samples["dataset"] == "4dme"].iloc[0]
    assert clip["pooled"] and clip["sample_id"] == "4dme/S01/clip1/magnified"
    assert clip["frame_paths"] == ["/d/S01/clip1/20.obj", "/d/S01/clip1/23.obj"]
    sequence = samples[samples["dataset"] == "bu4dfe"].iloc[0]
    assert sequence["frame_paths"] == ["/d/F001/Surprise/000.wrl", "/d/F001/Surprise/004.wrl"]


def test_dataset_filter_keeps_only_the_named_datasets():
    samples = plan_render_samples(_index(), "apex", datasets=["bu3dfe"])
    assert set(samples["dataset"]) == {"bu3dfe"}


def test_render_cache_returns_what_was_put_and_misses_after_a_change(tmp_path):
    scan = tmp_path / "scan.wrl"
    scan.write_text("#VRML V2.0 utf8\n")
    views = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    cache = RenderCache(tmp_path / "cache", {"size": 4, "modality": "texture"})

    assert cache.get(scan) is None
    cache.put(scan, views)
    np.testing.assert_array_equal(cache.get(scan), views)

    other_settings = RenderCache(tmp_path / "cache", {"size": 4, "modality": "depth"})
    assert other_settings.get(scan) is None, "other settings must not hit the same entry"
    scan.write_text("#VRML V2.0 utf8\n# edited\n")
    assert cache.get(scan) is None, "an edited scan must be rendered again"


@pytest.mark.parametrize("spec", ["uniform", "bogus", "uniform:0"])
def test_bad_frame_specs_are_refused(spec):
    with pytest.raises(ValueError):
        plan_render_samples(_index(), spec)

"""The render node with ``render.frames: surface_motion`` (micro-expression clips).

Specification: each clip becomes one sample, its onset-to-apex surface-motion map rendered in
the configured views and size, light where the face rose; a clip whose apex cannot be read is
reported in the failure table under its apex file, naming the onset too, and the other clips
go on; a second run takes the maps from the render cache instead of making them again, unless
the map's algorithm changed since.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from facevlm.pipelines.render.nodes import render_samples
from facevlm.render.fixtures import face_like_mesh
from facevlm.render.sampling import plan_render_samples
from facevlm.render.surface_motion import NEUTRAL_GREY
from facevlm.scans.formats import write_obj

RENDER = {"size": 32, "views": [[0, 0], [20, 0]], "frames": "surface_motion", "n_workers": 1}


def _clip(folder, nose_heights):
    folder.mkdir(parents=True)
    for frame, height in enumerate(nose_heights):
        write_obj(folder / f"{frame:03d}.obj", face_like_mesh(n_side=40, nose_height=height))
    return folder


def _index(root) -> pd.DataFrame:
    rows = []
    for clip, heights in {"c1": [20, 20.5, 21, 20.5], "c2": [20, 20, 20.8, 20]}.items():
        folder = _clip(root / "S01" / clip, heights)
        for frame in range(len(heights)):
            rows.append(
                {
                    "dataset": "4dme",
                    "subject": "S01",
                    "expression": "surprise",
                    "sequence": f"S01/{clip}",
                    "frame": frame,
                    "path": str(folder / f"{frame:03d}.obj"),
                    "extra": json.dumps({"onset": 0, "apex": 2, "offset": 3}),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def clips(tmp_path):
    index = _index(tmp_path / "raw")
    (tmp_path / "raw" / "S01" / "c2" / "002.obj").write_text("v 1 2\nf 1 2 3\n")  # broken apex
    return index, tmp_path / "cache"


def test_each_clip_is_one_rendered_map_and_a_broken_one_is_reported(clips):
    index, cache = clips
    samples = plan_render_samples(index, "surface_motion")
    assert len(samples) == 2 and samples["pooled"].all()

    render_set, failures = render_samples(samples, RENDER, str(cache))

    assert list(render_set.samples["sample_id"]) == ["4dme/S01/c1/surface_motion"]
    images = render_set.to_array()
    assert images.shape == (1, 2, 32, 32, 3)
    face = images[0, 0][images[0, 0].sum(-1) > 0]
    assert face.max() > NEUTRAL_GREY + 60  # the risen nose, light
    assert (face[:, 0] == face[:, 2]).all()  # grey levels, no texture
    (failure,) = failures.to_dict("records")
    assert failure["path"].endswith("c2/002.obj")
    assert "surface motion from" in failure["reason"] and "c2/000.obj" in failure["reason"]


def test_a_second_run_takes_the_maps_from_the_render_cache(clips):
    index, cache = clips
    samples = plan_render_samples(index, "surface_motion")
    first, _ = render_samples(samples, RENDER, str(cache))
    entries = {p: p.stat().st_mtime_ns for p in cache.glob("*.npy")}
    assert len(entries) == 1

    second, _ = render_samples(samples, RENDER, str(cache))

    np.testing.assert_array_equal(second.to_array(), first.to_array())
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.npy")} == entries


def test_maps_of_another_algorithm_version_are_made_again(clips, monkeypatch):
    from facevlm.render import surface_motion

    index, cache = clips
    samples = plan_render_samples(index, "surface_motion")
    render_samples(samples, RENDER, str(cache))
    monkeypatch.setattr(surface_motion, "ALGORITHM_VERSION", surface_motion.ALGORITHM_VERSION + 1)

    render_samples(samples, RENDER, str(cache))

    assert len(list(cache.glob("*.npy"))) == 2, "the new version's map is a new cache entry"

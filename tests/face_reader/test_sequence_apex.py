"""The face reader reads a 4D sequence from the still of its apex frame: the sampler names the
apex (labelled, else the middle frame), the render stage renders it with the run's settings
under the pooled sample's id, and the real Face Landmarker reads it there instead of the motion
map, which shows no face."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facevlm.datasets import RenderSet
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES
from facevlm.pipelines.face_reader.nodes import read_render_face_actions
from facevlm.pipelines.render.nodes import render_apex_stills
from facevlm.render.frames import PhaseLabels, apex_position, select_frames
from facevlm.render.renderer import MultiviewRenderer
from facevlm.render.sampling import apex_still_samples, plan_render_samples, stacked_sample_id
from facevlm.render.settings import split_render_params
from facevlm.scans.formats import read_mesh, write_obj
from facevlm.synthetic.expressions import EMOTION_RECIPES
from facevlm.synthetic.ict_facekit.head import build_ict_head
from facevlm.synthetic.procedural.identity import sample_identity

#: How far each frame of the test sequence has gone towards a full smile: the fourth is the
#: strongest, not the middle one, so that reading the middle shows in a test.
SMILE_LEVELS = (0.0, 0.0, 0.1, 1.0, 0.1)
RENDER = {
    "size": 160,
    "views": [[0, 0], [20, 0], [-20, 0]],
    "modality": "shaded",
    # the ICT-FaceKit faces are stored face-forward: drawn as they are, no pose to estimate
    "pose": "as_stored",
    "frames": "surface_motion",
    "n_workers": 1,
}
SMILE = ("mouthSmileLeft", "mouthSmileRight")


def _smile(scores: pd.Series) -> float:
    return float(np.mean([scores[name] for name in SMILE]))


@pytest.fixture(scope="module")
def smile_sequence(tmp_path_factory) -> list[Path]:
    """An ICT-FaceKit subject going from rest to a smile and back, one OBJ file a frame."""
    rng = np.random.default_rng(3)
    head = build_ict_head(sample_identity(rng, "F"), rng, "face")
    folder = tmp_path_factory.mktemp("sequence")
    paths = []
    for frame, level in enumerate(SMILE_LEVELS):
        activation = {au: w * level for au, w in EMOTION_RECIPES["happiness"].items()}
        moved = head.mesh.vertices + head.displacement(activation)
        path = folder / f"{frame:03d}.obj"
        write_obj(path, head.with_vertices(moved))
        paths.append(path)
    return paths


def _index(paths: list[Path], apex: int | None) -> pd.DataFrame:
    """The scan index of one sequence of ``paths``; ``apex``: its labelled apex frame number."""
    extra = json.dumps({} if apex is None else {"onset": 0, "apex": apex, "offset": 4})
    return pd.DataFrame(
        {
            "dataset": "toy4d",
            "subject": "F001",
            "expression": "happiness",
            "sequence": "F001/Happy",
            "frame": range(len(paths)),
            "path": [str(p) for p in paths],
            "extra": extra,
        }
    )


def test_the_apex_is_the_labelled_one_else_the_middle_frame():
    assert apex_position(5) == 2 and apex_position(12) == 5
    assert apex_position(12, PhaseLabels(apex=9)) == 9
    # the frame a surface-motion map is painted on is that same apex
    assert select_frames(12, "surface_motion")[-1] == apex_position(12)
    assert select_frames(12, "surface_motion", PhaseLabels(onset=2, apex=9)) == [2, 9]
    with pytest.raises(ValueError, match="outside the sequence"):
        apex_position(5, PhaseLabels(apex=7))


@pytest.mark.parametrize(("labelled", "apex"), [(None, 2), (3, 3)])
def test_a_pooled_sample_names_its_apex_frame_as_a_still_to_render(smile_sequence, labelled, apex):
    samples = plan_render_samples(_index(smile_sequence, labelled), "surface_motion")

    (pooled,) = samples.itertuples()
    assert pooled.pooled and pooled.apex_frame == apex
    assert pooled.apex_path == str(smile_sequence[apex])
    stills = apex_still_samples(samples)
    assert stills["sample_id"].tolist() == [pooled.sample_id], "keyed as the pooled sample"
    assert stills["frame_paths"].tolist() == [[str(smile_sequence[apex])]]
    assert not stills["pooled"].any() and stills["frame"].tolist() == [apex]


def test_a_sequence_rendered_frame_by_frame_has_one_apex_still_for_its_stacked_frames(
    smile_sequence,
):
    samples = plan_render_samples(_index(smile_sequence, None), "uniform:3")
    assert len(samples) == 3 and (samples["apex_frame"] == 2).all()

    stills = apex_still_samples(samples)

    assert stills["sample_id"].tolist() == [stacked_sample_id("toy4d", "F001/Happy")]
    assert stills["frame_paths"].tolist() == [[str(smile_sequence[2])]]


def test_a_static_scan_has_no_apex_still(smile_sequence):
    index = _index(smile_sequence[:1], None).assign(sequence=None, frame=None)
    samples = plan_render_samples(index, "surface_motion")

    assert samples["apex_path"].isna().all()
    assert apex_still_samples(samples).empty


def test_the_landmarker_reads_a_sequence_from_its_rendered_apex_still(smile_sequence, tmp_path):
    """Labelled apex: the fourth frame, the full smile. Its still is the apex mesh rendered as
    any scan is, and the pooled sample's row holds its reading; without the still, the motion
    map's row is not read."""
    samples = plan_render_samples(_index(smile_sequence, 3), "surface_motion")
    stills = render_apex_stills(samples, RENDER, str(tmp_path / "cache"))

    assert stills.samples["sample_id"].tolist() == samples["sample_id"].tolist()
    settings, _ = split_render_params(RENDER)
    renderer = MultiviewRenderer(settings)
    try:
        apex_views = renderer.render(read_mesh(smile_sequence[3]))
    finally:
        renderer.close()
    assert np.array_equal(stills.view_array()[0], apex_views), "the apex, as the run renders it"

    # the motion map stands in as grey: the reader must not read it
    motion = RenderSet(samples, stills.view_names, {}, np.full((1, 3, 160, 160, 3), 128, np.uint8))
    unread = read_render_face_actions(motion, {"views": None})
    read = read_render_face_actions(motion, {"views": None}, stills)

    assert not unread["found"].iloc[0] and np.isnan(unread[list(BLENDSHAPE_NAMES)].iloc[0]).all()
    assert read["found"].iloc[0] and read["sample_id"].iloc[0] == samples["sample_id"].iloc[0]
    assert _smile(read.iloc[0]) > 0.3, "the landmarker read the full smile of the apex"


def test_a_stacked_sequence_reading_is_added_beside_its_frames_readings(smile_sequence, tmp_path):
    """Rendered frame by frame, each frame is a still the reader reads as a scan; the sequence
    as a stacked-frame model reads it gets a row of its own, its apex still's reading."""
    samples = plan_render_samples(_index(smile_sequence, 3), "uniform:3")
    stills = render_apex_stills(samples, RENDER, str(tmp_path / "cache"))
    n = len(samples)  # uniform:3 and the labelled apex
    frames = RenderSet(samples, stills.view_names, {}, np.zeros((n, 3, 8, 8, 3), np.uint8))

    table = read_render_face_actions(frames, {"views": None}, stills)

    stacked = stacked_sample_id("toy4d", "F001/Happy")
    assert table["sample_id"].tolist() == [*samples["sample_id"], stacked]
    assert not table["found"].iloc[:n].any(), "the blank frames show no face"
    assert table["found"].iloc[n] and _smile(table.iloc[n]) > 0.3, "the labelled apex's smile"
    assert table["subject"].iloc[n] == "F001" and table["expression"].iloc[n] == "happiness"


def test_the_middle_frame_is_read_when_no_apex_is_labelled(smile_sequence, tmp_path):
    """Unlabelled, the apex is the middle frame (a faint 0.1 smile here): the reader reads
    that frame, so its smile is far below the labelled apex's full one."""
    cache = str(tmp_path / "cache")
    readings = {}
    for labelled in (None, 3):
        samples = plan_render_samples(_index(smile_sequence, labelled), "surface_motion")
        stills = render_apex_stills(samples, RENDER, cache)
        motion = RenderSet(samples, stills.view_names, {}, np.zeros((1, 3, 8, 8, 3), np.uint8))
        readings[labelled] = _smile(read_render_face_actions(motion, {}, stills).iloc[0])
    assert readings[3] > readings[None] + 0.2

"""A sequence model with a face reader: ``facevlm predict`` and the app have the real Face
Landmarker read the sequence's apex frame (the middle one, as an upload has no labels), and the
same answer rule as a scan's decides; the JSON's ``face_reader`` says what it read and of which
frame."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_project import CLASSES, tiny_bundle

from facevlm.face_reader.agreement import AnswerRule
from facevlm.face_reader.head import NEUTRAL, FaceReaderHead
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES
from facevlm.inference import Predictor, find_inputs
from facevlm.scans.formats import write_obj
from facevlm.synthetic.expressions import EMOTION_RECIPES
from facevlm.synthetic.ict_facekit.head import build_ict_head
from facevlm.synthetic.procedural.identity import sample_identity

#: How far each frame has gone towards a full smile: only the middle frame, the apex, smiles.
SMILE_LEVELS = (0.0, 0.05, 1.0, 0.05, 0.0)
READER_CLASSES = [*CLASSES, NEUTRAL]
#: A surface-motion model as ``train_smile_4d`` makes one, in a size the landmarker reads; the
#: ICT-FaceKit faces are stored face-forward, so they are drawn as they are.
RENDER = {
    "size": 160,
    "views": [[0, 0], [20, 0], [-20, 0]],
    "modality": "shaded",
    "pose": "as_stored",
    "frames": "surface_motion",
}


def smile_reader() -> dict:
    """A face reader record whose head reads a smile as happiness and anything else as a
    resting face: what it reads tells which frame it was shown."""
    d = len(BLENDSHAPE_NAMES)
    weight = np.zeros((len(READER_CLASSES), d))
    for name in ("mouthSmileLeft", "mouthSmileRight"):
        weight[READER_CLASSES.index("happiness"), BLENDSHAPE_NAMES.index(name)] = 20.0
    bias = np.where(np.array(READER_CLASSES) == NEUTRAL, 4.0, -4.0)
    head = FaceReaderHead(READER_CLASSES, np.zeros(d), np.ones(d), weight, bias)
    return {"enabled": True, "head": head.to_dict(), "rule": AnswerRule().to_dict(), "views": None}


@pytest.fixture(scope="module")
def smile_sequence(tmp_path_factory):
    """An ICT-FaceKit subject from rest to a smile and back, ``NNN.obj`` frames in a folder."""
    rng = np.random.default_rng(5)
    head = build_ict_head(sample_identity(rng, "F"), rng, "face")
    folder = tmp_path_factory.mktemp("upload") / "F001" / "Happy"
    folder.mkdir(parents=True)
    for frame, level in enumerate(SMILE_LEVELS):
        activation = {au: w * level for au, w in EMOTION_RECIPES["happiness"].items()}
        moved = head.mesh.vertices + head.displacement(activation)
        write_obj(folder / f"{frame:03d}.obj", head.with_vertices(moved))
    (item,) = find_inputs(folder)
    return item


def stacked_frames_bundle():
    """A model of ``uniform:3`` frames stacked as the views of one sample."""
    return tiny_bundle(
        "smile",
        seed=0,
        n_views=9,
        render={**RENDER, "frames": "uniform:3"},
        sample_frames={"frames": "views", "frames_per_sample": 3},
    )


@pytest.mark.parametrize("stacked", [False, True], ids=["surface_motion", "stacked_frames"])
def test_the_reader_reads_the_apex_frame_of_a_sequence(smile_sequence, stacked):
    bundle = stacked_frames_bundle() if stacked else tiny_bundle("smile", seed=0, render=RENDER)
    bundle.face_reader = smile_reader()
    predictor = Predictor(bundle)
    try:
        result = predictor.predict(smile_sequence)
    finally:
        predictor.close()

    if stacked:
        assert result.stacked_frames == 3 and result.sequence_frames == [0, 2, 4]
    else:
        assert result.pooled_kind == "surface motion" and result.sequence_frames == [0, 2]
    assert result.reader_frame == 2, "the middle frame, the apex of the motion map"
    assert result.reader_reading == "happiness", "the smiling apex, not a resting frame"
    printed = json.loads(json.dumps(result.to_json()))
    assert printed["face_reader"]["reading"] == "happiness"
    assert printed["face_reader"]["frame"] == 2
    assert set(printed["face_reader"]["probabilities"]) == set(READER_CLASSES)
    # the same rule as a scan's: answered only where the model reads happiness too
    model_reads = CLASSES[int(np.argmax(result.probabilities))]
    assert result.abstained is (model_reads != "happiness")
    if result.abstained:
        assert "the face reader reads happiness" in printed["abstain_reason"]


def test_a_sequence_model_without_a_reader_says_none(smile_sequence):
    predictor = Predictor(tiny_bundle("smile", seed=0, render=RENDER))
    try:
        result = predictor.predict(smile_sequence)
    finally:
        predictor.close()
    assert result.reader_frame is None and result.to_json()["face_reader"] is None

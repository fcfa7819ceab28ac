"""A model with a face reader answers only where the two readings agree, and says what each read
where they do not: the real Face Landmarker reads the real render of a scan."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_project import CLASSES, tiny_bundle

from facevlm.face_reader.agreement import AnswerRule
from facevlm.face_reader.head import FaceReaderHead
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES
from facevlm.inference import Predictor, find_inputs
from facevlm.scans.formats import write_obj
from facevlm.synthetic.ict_facekit.head import build_ict_head
from facevlm.synthetic.procedural.identity import sample_identity

READER_CLASSES = [*CLASSES, "neutral"]


def reader_that_reads(expression: str, rule: AnswerRule | None = None) -> dict:
    """A face reader record whose head reads ``expression`` whatever the face (its weights are
    zero, its bias picks the class): what a reader would read of a clear face."""
    d = len(BLENDSHAPE_NAMES)
    bias = np.where(np.array(READER_CLASSES) == expression, 4.0, 0.0)
    head = FaceReaderHead(READER_CLASSES, np.zeros(d), np.ones(d), np.zeros((len(bias), d)), bias)
    rule = rule or AnswerRule()
    return {"enabled": True, "head": head.to_dict(), "rule": rule.to_dict(), "views": None}


@pytest.fixture(scope="module")
def face_scan(tmp_path_factory):
    """An ICT-FaceKit subject of the built-in set as an OBJ scan: a face the landmarker finds."""
    rng = np.random.default_rng(5)
    head = build_ict_head(sample_identity(rng, "F"), rng, "face")
    path = tmp_path_factory.mktemp("face") / "subject.obj"
    write_obj(path, head.mesh)
    (item,) = find_inputs(path)
    return item


def _predictor(project, reader: dict | None) -> Predictor:
    bundle = tiny_bundle("affectvlm", seed=0)
    bundle.face_reader = reader
    return Predictor(bundle, project.render_params)


def _models_reading(project, face_scan) -> str:
    predictor = _predictor(project, None)
    try:
        return predictor.predict(face_scan).prediction
    finally:
        predictor.close()


def test_agreeing_readings_are_answered_and_disagreeing_ones_are_not(project, face_scan):
    said = _models_reading(project, face_scan)
    other = next(c for c in CLASSES if c != said)
    for reader, answered in ((said, True), (other, False)):
        predictor = _predictor(project, reader_that_reads(reader))
        try:
            result = predictor.predict(face_scan)
        finally:
            predictor.close()
        assert result.reader_reading == reader, "the landmarker found the face"
        assert result.abstained is not answered
        printed = result.to_json()
        assert printed["face_reader"]["reading"] == reader
        assert set(printed["face_reader"]["probabilities"]) == set(READER_CLASSES)
        if answered:
            assert printed["prediction"] == said and printed["face_reader"]["route"] == "agree"
        else:
            assert printed["prediction"] is None
            assert f"the model reads {said}" in printed["abstain_reason"]
            assert f"the face reader reads {other}" in printed["abstain_reason"]
            # a script that must have a label gets the two readings' combination
            guessed = result.to_json(always_answer=True)["prediction"]
            assert guessed == result.decision.best_guess and guessed in (said, other)


def test_a_face_the_reader_reads_as_resting_gets_no_emotion(project, face_scan):
    predictor = _predictor(project, reader_that_reads("neutral"))
    try:
        result = predictor.predict(face_scan)
    finally:
        predictor.close()
    assert result.abstained and "resting face" in result.abstain_reason


def test_a_render_without_a_face_is_no_second_ground(project, scan):
    """The tests' stand-in scan is a bump on a sheet: no face for the landmarker."""
    predictor = _predictor(project, reader_that_reads(CLASSES[0]))
    try:
        result = predictor.predict(scan)
    finally:
        predictor.close()
    assert result.reader_reading is None and result.abstained
    assert "finds no face" in result.abstain_reason
    assert json.loads(json.dumps(result.to_json()))["face_reader"]["reading"] is None


def test_the_reader_reads_only_views_the_model_renders(project):
    record = {**reader_that_reads(CLASSES[0]), "views": ["yaw+90_pitch+0"]}
    with pytest.raises(ValueError, match="which the model's renders lack"):
        _predictor(project, record)

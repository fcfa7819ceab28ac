"""The face reader's head: a logistic regression on the 51 scores, kept as plain numbers."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.face_reader.head import FaceReaderHead
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES, FaceLandmarker
from facevlm.face_reader.reading import average_views

D = len(BLENDSHAPE_NAMES)


def _clusters(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three expressions, each raising a score of its own."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(["anger", "happiness", "neutral"], n)
    scores = rng.uniform(0, 0.2, size=(len(labels), D))
    for k, name in enumerate(("browDownLeft", "mouthSmileLeft", "eyeBlinkLeft")):
        scores[labels == labels[k * n], BLENDSHAPE_NAMES.index(name)] += 0.6
    return scores, labels


def test_it_learns_which_actions_make_which_expression():
    scores, labels = _clusters()
    head = FaceReaderHead.fit(scores, labels)
    assert head.classes == ["anger", "happiness", "neutral"]
    test, truth = _clusters(seed=1)
    read = np.array(head.classes)[head.probabilities(test).argmax(axis=1)]
    assert np.mean(read == truth) > 0.95


def test_faces_the_landmarker_did_not_find_are_left_out_of_fitting_and_stay_unread():
    scores, labels = _clusters()
    scores[0] = np.nan
    head = FaceReaderHead.fit(scores, labels)
    probabilities = head.probabilities(scores[:2])
    assert np.isnan(probabilities[0]).all()
    assert np.isclose(probabilities[1].sum(), 1.0)


def test_it_round_trips_through_plain_values_and_refuses_a_damaged_record():
    head = FaceReaderHead.fit(*_clusters())
    record = head.to_dict()
    assert all(isinstance(v, list) for k, v in record.items() if k != "features")
    assert record["features"] == "log_odds"
    again = FaceReaderHead.from_dict(record)
    scores, _ = _clusters(seed=2)
    assert np.allclose(again.probabilities(scores), head.probabilities(scores))
    with pytest.raises(ValueError, match="weight has shape"):
        FaceReaderHead.from_dict({**record, "weight": record["weight"][:-1]})
    with pytest.raises(ValueError, match="other landmarker scores"):
        FaceReaderHead.from_dict({**record, "inputs": ["jawOpen"]})


def test_one_expression_is_nothing_to_learn():
    scores, labels = _clusters()
    with pytest.raises(ValueError, match="at least two classes"):
        FaceReaderHead.fit(scores[labels == "anger"], labels[labels == "anger"])


def test_a_head_fitted_on_some_subjects_reads_another_subjects_smile(rendered_faces):
    with FaceLandmarker() as landmarker:
        read = {
            seed: {e: average_views(landmarker.read_images(v)[None])[0] for e, v in faces.items()}
            for seed, faces in rendered_faces.items()
        }
    train = [(s, e) for s in (1, 2, 3) for e in read[s]]
    head = FaceReaderHead.fit(np.stack([read[s][e] for s, e in train]), [e for _, e in train])
    for expression in ("happiness", "surprise"):
        p = head.probabilities(read[4][expression][None])[0]
        assert head.classes[int(p.argmax())] == expression


def test_a_head_recorded_before_log_odds_still_reads_the_raw_scores():
    """A bundle made before the head read log-odds has no ``features`` in its record: it must
    be read as it was fitted, on the raw scores, not silently on log-odds."""
    head = FaceReaderHead.fit(*_clusters(), features="scores")
    record = head.to_dict()
    del record["features"]
    old = FaceReaderHead.from_dict(record)
    scores, _ = _clusters(seed=3)
    assert old.features == "scores"
    assert np.allclose(old.probabilities(scores), head.probabilities(scores))
    as_log_odds = FaceReaderHead.from_dict({**record, "features": "log_odds"})
    assert not np.allclose(as_log_odds.probabilities(scores), head.probabilities(scores))


def test_a_record_naming_features_this_version_does_not_know_is_refused():
    record = FaceReaderHead.fit(*_clusters()).to_dict()
    with pytest.raises(ValueError, match="'scores' or 'log_odds'"):
        FaceReaderHead.from_dict({**record, "features": "z_scores"})


def test_scores_at_the_ends_of_their_range_stay_finite_on_log_odds():
    head = FaceReaderHead.fit(*_clusters())
    ends = np.zeros((2, D))
    ends[1] = 1.0
    assert np.isfinite(head.probabilities(ends)).all()

"""Sets of answers and "I can't tell" on the prediction path.

Specification:

- a prediction's JSON has ``prediction_set`` (most probable first) and ``coverage``; the model
  abstains (``"prediction": null``, ``"abstained": true`` and the reason) when the input is
  unfamiliar or its set holds more than three classes, and ``always_answer`` gives the most
  probable class instead; a model without sets abstains only on unfamiliar inputs;
- the Predictor cuts the set of the bundle's main head at the threshold of the bundle's
  calibration scores for the chosen coverage (every class whose calibrated probability is at
  least ``1 - threshold``, and the most probable one); a higher coverage never gives a smaller
  set; an unfamiliar input's set is every class;
- ``facevlm predict`` prints the abstention, and ``--always-answer`` the label; a coverage
  outside (0, 1) is refused before any model is loaded.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from test_predict_command import facevlm
from tiny_project import CLASSES, tiny_bundle

from facevlm.evaluation import conformal
from facevlm.inference import Predictor, Project, find_inputs
from facevlm.inference.prediction import STAGES, Prediction


def _prediction(probabilities, prediction_set, familiar=True, reason=None) -> Prediction:
    return Prediction(
        file="scan.wrl",
        model="affectvlm",
        classes=CLASSES,
        probabilities=np.asarray(probabilities, float),
        method="prompt classifier",
        timings={**dict.fromkeys(STAGES, 0.01), "total": 0.04},
        views=np.zeros((1, 8, 8, 3), np.uint8),
        view_names=["0_0"],
        closest_prompts=[],
        familiar=familiar,
        unfamiliar_reason=reason,
        prediction_set=prediction_set,
        coverage=None if prediction_set is None else 0.9,
    )


SURE = [0.9, 0.02, 0.02, 0.02, 0.02, 0.02]


def test_a_familiar_scan_with_a_small_set_is_answered():
    record = _prediction(SURE, ["anger", "fear"]).to_json()
    assert record["prediction"] == "anger" and record["abstained"] is False
    assert record["abstain_reason"] is None
    assert record["prediction_set"] == ["anger", "fear"] and record["coverage"] == 0.9


def test_too_large_a_set_is_too_ambiguous_to_answer():
    prediction = _prediction(SURE, CLASSES[:4])
    record = prediction.to_json()
    assert record["prediction"] is None and record["abstained"] is True
    assert record["abstain_reason"] == (
        "too ambiguous: 4 of the 6 expressions are plausible at 90% coverage"
    )
    assert record["prediction_set"] == CLASSES[:4]
    kept = prediction.to_json(always_answer=True)
    assert kept["prediction"] == "anger" and kept["abstained"] is False
    assert kept["abstain_reason"] is None and kept["prediction_set"] == CLASSES[:4]


@pytest.mark.parametrize("prediction_set", [None, CLASSES])
def test_an_unfamiliar_scan_is_not_answered_whatever_its_probability(prediction_set):
    reason = "untextured scan, model trained on textured scans"
    record = _prediction(SURE, prediction_set, familiar=False, reason=reason).to_json()
    assert record["prediction"] is None and record["abstained"] is True
    assert record["abstain_reason"] == f"unfamiliar input: {reason}"
    assert record["probabilities"]["anger"] == 0.9, "the probabilities are still shown"


def test_a_model_without_sets_answers_a_familiar_scan():
    record = _prediction(SURE, None).to_json()
    assert record["prediction"] == "anger" and record["abstained"] is False
    assert record["prediction_set"] is None and record["coverage"] is None


def _with_scores(bundle, scores, coverage=0.9):
    bundle.calibration = {
        "method": "temperature",
        "temperature": {"prompt_classifier": 20.0, "linear_probe": 2.0},
        conformal.RECORD_KEY: {
            "method": conformal.LAC,
            "coverage": coverage,
            "scores": {"prompt_classifier": list(scores), "linear_probe": list(scores)},
        },
    }
    return bundle


def _predict(bundle, project, item, coverage=None):
    predictor = Predictor(bundle, project.render_params, coverage=coverage)
    try:
        return predictor.predict(item)
    finally:
        predictor.close()


@pytest.mark.parametrize("model", ["affectvlm", "smile"])
def test_the_set_is_cut_at_the_bundle_threshold_for_the_coverage(project, scan, model):
    scores = np.linspace(0.0, 1.0, 99)  # thresholds 0.5 at 50%, 0.9 at 90%, 0.95 at 95%
    bundle = _with_scores(tiny_bundle(model, seed=2, probe=model == "smile"), scores)
    sizes = []
    for coverage in (None, 0.5, 0.95):
        prediction = _predict(bundle, project, scan, coverage)
        cutoff = conformal.threshold(scores, coverage or 0.9)
        p = prediction.probabilities
        expected = [
            CLASSES[i]
            for i in np.argsort(-p, kind="stable")
            if p[i] >= 1 - cutoff or i == p.argmax()
        ]
        assert prediction.prediction_set == expected
        assert prediction.coverage == (coverage or 0.9)
        assert prediction.prediction_set[0] == prediction.prediction
        sizes.append(len(expected))
    assert sizes[1] <= sizes[0] <= sizes[2]


def test_a_sure_set_is_answered_and_a_full_one_is_not(project, scan):
    sure = _predict(_with_scores(tiny_bundle("affectvlm", seed=0), [0.0] * 50), project, scan)
    assert sure.prediction_set == [sure.prediction] and not sure.abstained
    full = _predict(_with_scores(tiny_bundle("affectvlm", seed=0), [1.0] * 50), project, scan)
    assert full.prediction_set == [CLASSES[i] for i in np.argsort(-full.probabilities)]
    assert full.abstained and full.abstain_reason.startswith("too ambiguous: 6 of the 6")


def test_an_unfamiliar_input_gets_every_class(project, scans):
    (bare,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    bundle = _with_scores(tiny_bundle("affectvlm", seed=0), [0.0] * 50)
    predictor = Predictor(bundle, project.render_params, modality="shaded")
    try:
        prediction = predictor.predict(bare)
    finally:
        predictor.close()
    assert prediction.familiar is False, "a shaded render asked of a texture-trained model"
    assert sorted(prediction.prediction_set) == sorted(CLASSES)
    assert prediction.abstained and prediction.abstain_reason.startswith("unfamiliar input: ")


def test_predict_prints_the_abstention_and_always_answer_the_label(tiny_project, scans, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(tiny_project, root, symlinks=True)
    Project.open(root).catalog.save(
        "affectvlm.model", _with_scores(tiny_bundle("affectvlm", seed=0), [1.0] * 50)
    )
    scan = scans / "scan" / "F0001_HA04WH_F3D.wrl"
    for flags in ([], ["--always-answer"]):
        done = facevlm("predict", scan, *flags, cwd=root)
        assert done.returncode == 0, done.stderr
        (record,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert sorted(record["prediction_set"]) == sorted(CLASSES) and record["coverage"] == 0.9
        if flags:
            assert record["prediction"] == record["prediction_set"][0]
            assert record["abstained"] is False
        else:
            assert record["prediction"] is None and record["abstained"] is True
            assert record["abstain_reason"].startswith("too ambiguous: 6 of the 6 expressions")


@pytest.mark.parametrize("value", ["1", "0", "1.5", "ninety"])
def test_a_coverage_outside_zero_and_one_is_refused(tiny_project, scans, value):
    done = facevlm("predict", scans / "scan", "--coverage", value, cwd=tiny_project)
    assert done.returncode == 2 and "--coverage" in done.stderr
    assert not done.stdout

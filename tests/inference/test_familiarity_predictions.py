"""Every prediction says how familiar its input is (``Prediction.familiar``/``familiarity``).

A frozen-feature setup makes the property meaningful without training: the tiny project's
randomly initialised ``facevlm-tiny`` is one fixed feature extractor, so cross-validation folds
of its textured renders of the project's built-in scans give honest held-out scores, and a
bundle carrying the statistics computed from them is what a final fit would save.

Specification:

- random-noise views and heavily cropped faces score as less familiar than held-out built-in
  renders (and are mostly unfamiliar); the frozen random model does not tell a shaded render
  from a textured one by its embedding (measured: AUROC 0.37-0.56 over four seeds), which is
  why a render in another modality than training's is unfamiliar by rule;
- an untextured scan asked of a texture-trained model is unfamiliar, with the reason;
- ``familiarity`` in the JSON is the fraction of held-out scans less familiar than the input
  (joined over the embedding and the views' appearance), recomputed here from the model's
  features; a sequence gets one familiarity;
- a bundle saved without statistics predicts with ``familiar`` and ``familiarity`` null;
- a model trained on textured and shaded renders (``texture+shaded``) answers an untextured
  scan from its shaded render, says so (``modality``), and does not call it unfamiliar for
  being shaded: its statistics hold shaded renders too, so the score alone decides.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from PIL import Image
from tiny_project import (
    built_in_texture_renders,
    familiarity_features,
    frozen_familiarity,
    write_ball,
)

from facevlm.evaluation import familiarity as fam
from facevlm.inference import ModelChoice, Predictor, Project, find_inputs, load_bundle
from facevlm.models.model_bundle import plain


@pytest.fixture(scope="module")
def project(tiny_project):
    return Project.open(tiny_project)


@pytest.fixture(scope="module")
def plain_predictor(project):
    """The tiny project's AffectVLM bundle as saved: without familiarity statistics."""
    predictor = Predictor(load_bundle(project, ModelChoice("affectvlm")), project.render_params)
    yield predictor
    predictor.close()


@pytest.fixture(scope="module")
def built_in_renders(project, plain_predictor) -> np.ndarray:
    """``(N, V, S, S, 3)`` textured renders of the project's built-in static scans."""
    return built_in_texture_renders(project, plain_predictor)


def joint_of(statistics: fam.JointFamiliarity, predictor: Predictor, views: np.ndarray):
    """The joint score of ``views`` recomputed from the model's features."""
    return statistics.joint(statistics.scores(familiarity_features(predictor, views)))


@pytest.fixture(scope="module")
def statistics(plain_predictor, built_in_renders) -> fam.JointFamiliarity:
    """Two folds of the built-in renders for the yardstick, all of them for the final set."""
    return frozen_familiarity(plain_predictor, built_in_renders)


@pytest.fixture(scope="module")
def predictor(project, statistics):
    bundle = load_bundle(project, ModelChoice("affectvlm"))
    bundle = dataclasses.replace(bundle, familiarity=plain(statistics.as_dict()))
    predictor = Predictor(bundle, project.render_params)
    yield predictor
    predictor.close()


def crops(renders: np.ndarray, fraction: float = 0.3) -> np.ndarray:
    """Each view cut to its central ``fraction`` and scaled back up: a heavily cropped face."""
    side = renders.shape[2]
    cut = int(side * fraction)
    start = (side - cut) // 2
    return np.stack(
        [
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(view[start : start + cut, start : start + cut]).resize(
                            (side, side)
                        )
                    )
                    for view in sample
                ]
            )
            for sample in renders
        ]
    )


@pytest.mark.parametrize("kind", ["noise", "crop"])
def test_noise_and_crops_are_less_familiar_than_held_out_scans(
    predictor, statistics, built_in_renders, kind
):
    if kind == "noise":
        rng = np.random.default_rng(0)
        views = rng.integers(0, 256, (12, *built_in_renders.shape[1:]), dtype=np.uint8)
    else:
        views = crops(built_in_renders)
    joint = joint_of(statistics, predictor, views)
    assert fam.auroc(statistics.reference, joint) > 0.9
    assert statistics.familiar(joint).mean() < 0.25


def test_a_textured_scan_reports_its_familiarity(predictor, statistics, scans):
    (item,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    result = predictor.predict(item)
    joint = joint_of(statistics, predictor, result.views[None])
    expected = fam.familiarity_of(joint, statistics.reference)[0]
    record = result.to_json()
    assert record["familiarity"] == pytest.approx(expected, abs=1e-3)
    assert record["familiar"] == bool(joint[0] <= statistics.threshold)
    assert (record["unfamiliar_reason"] is None) == record["familiar"]


def test_an_untextured_scan_with_a_texture_trained_model_is_unfamiliar(predictor, scans, tmp_path):
    shutil.copy(scans / "scan" / "F0001_HA04WH_F3D.wrl", tmp_path / "bare.wrl")
    (item,) = find_inputs(tmp_path / "bare.wrl")
    record = predictor.predict(item).to_json()
    assert record["familiar"] is False
    assert record["unfamiliar_reason"] == "untextured scan, model trained on textured scans"
    assert 0.0 <= record["familiarity"] <= 1.0
    assert record["modality"] == "shaded" and record["trained_modalities"] == ["texture"]


@pytest.fixture(scope="module")
def mixed_predictor(project, plain_predictor, built_in_renders):
    """The bundle as a model trained on textured and shaded renders saves it: statistics over
    both renders of every built-in scan."""
    shaded = built_in_texture_renders(project, plain_predictor, "shaded")
    renders = np.concatenate([built_in_renders, shaded])
    statistics = frozen_familiarity(plain_predictor, renders, modality="texture+shaded")
    bundle = load_bundle(project, ModelChoice("affectvlm"))
    bundle = dataclasses.replace(bundle, familiarity=plain(statistics.as_dict()))
    predictor = Predictor(bundle, project.render_params)
    yield predictor, statistics
    predictor.close()


def test_a_model_trained_on_both_modalities_answers_an_untextured_scan_shaded(
    mixed_predictor, scans, tmp_path
):
    predictor, statistics = mixed_predictor
    shutil.copy(scans / "scan" / "F0001_HA04WH_F3D.wrl", tmp_path / "bare.wrl")
    (item,) = find_inputs(tmp_path / "bare.wrl")
    result = predictor.predict(item)
    record = result.to_json()
    assert record["modality"] == "shaded"
    assert record["trained_modalities"] == ["texture", "shaded"]
    (note,) = record["notes"]
    assert "rendered shaded instead" in note and "trained on shaded renders too" in note
    joint = joint_of(statistics, predictor, result.views[None])
    assert record["familiar"] == bool(joint[0] <= statistics.threshold), "the score decides"
    if not record["familiar"]:
        assert record["unfamiliar_reason"] in fam.UNLIKE.values()

    (textured,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    record = predictor.predict(textured).to_json()
    assert record["modality"] == "texture" and not record["notes"]


def test_a_sequence_gets_one_familiarity(predictor, scans):
    (item,) = find_inputs(scans / "F001")
    result = predictor.predict(item)
    assert 0.0 <= result.familiarity <= 1.0 and isinstance(result.familiar, bool)


def test_a_bundle_without_statistics_says_familiarity_is_unknown(plain_predictor, scans):
    (item,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    record = plain_predictor.predict(item).to_json()
    assert record["familiar"] is None and record["familiarity"] is None


def test_a_textured_ball_is_unfamiliar(predictor, tmp_path):
    (item,) = find_inputs(write_ball(tmp_path))
    result = predictor.predict(item)
    assert not result.notes  # rendered with its texture: only its embedding can tell
    assert result.familiar is False
    assert result.unfamiliar_reason in fam.UNLIKE.values()

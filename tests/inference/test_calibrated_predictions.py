"""Calibrated probabilities on the prediction path, from a real tiny model bundle.

Specification:

- a bundle's ``calibration`` (temperatures per head) round-trips through the real
  ``ModelBundleDataset`` and reads with ``torch.load(weights_only=True)``; a bundle file saved
  before the field existed still loads, uncalibrated; a malformed record is refused naming the
  file;
- the Predictor's probabilities are ``softmax(logits / T)`` with the bundle's temperature of
  that head (AffectVLM's prompt classifier; SMILE-VLM's linear probe and its zero-shot), the
  predicted class is the uncalibrated one, and the JSON says whether it is calibrated.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kedro.io import DatasetError
from tiny_project import CLASSES, tiny_bundle

from facevlm.datasets.model_bundle import ModelBundleDataset
from facevlm.inference import Predictor
from facevlm.models.multiview_data import views_to_tensor

CALIBRATION = {
    "method": "temperature",
    "n_bins": 15,
    "temperature": {"prompt_classifier": 7.5, "linear_probe": 3.0},
    "ece_uncalibrated": {"prompt_classifier": 0.41, "linear_probe": None},
    "ece_calibrated": {"prompt_classifier": 0.06, "linear_probe": None},
    "n_samples": {"prompt_classifier": 120, "linear_probe": 120},
    "n_folds": {"prompt_classifier": 5, "linear_probe": 5},
}


def test_the_calibration_round_trips_through_the_bundle_file(tmp_path):
    bundle = tiny_bundle("smile", seed=3, probe=True)
    bundle.calibration = {**CALIBRATION, "n_folds": {"linear_probe": np.int64(5)}}
    dataset = ModelBundleDataset(filepath=str(tmp_path / "smile.pt"))
    dataset.save(bundle)

    raw = torch.load(tmp_path / "smile.pt", weights_only=True)
    assert raw["calibration"]["temperature"] == CALIBRATION["temperature"]
    loaded = dataset.load()
    assert loaded.calibration["temperature"] == CALIBRATION["temperature"]
    assert loaded.calibration["n_folds"] == {"linear_probe": 5}, "numpy values stored plain"
    assert loaded.calibration["ece_uncalibrated"]["linear_probe"] is None


def test_a_bundle_saved_before_calibration_loads_uncalibrated(tmp_path):
    payload = torch.load(_saved(tiny_bundle("affectvlm", seed=0), tmp_path), weights_only=True)
    del payload["calibration"]  # the file as an older facevlm wrote it
    torch.save(payload, tmp_path / "old.pt")
    assert ModelBundleDataset(filepath=str(tmp_path / "old.pt")).load().calibration is None


def test_a_malformed_calibration_is_refused_naming_the_file(tmp_path):
    bundle = tiny_bundle("affectvlm", seed=0)
    bundle.calibration = {"method": "temperature", "temperature": {"prompt_classifier": 0.0}}
    path = _saved(bundle, tmp_path)
    with pytest.raises(DatasetError, match=rf"{path.name}: temperature must be a positive"):
        ModelBundleDataset(filepath=str(path)).load()


def _saved(bundle, folder):
    path = folder / "bundle.pt"
    ModelBundleDataset(filepath=str(path)).save(bundle)
    return path


def _predict(bundle, project, scan):
    predictor = Predictor(bundle, project.render_params)
    try:
        return predictor, predictor.predict(scan)
    finally:
        predictor.close()


def _head_logits(predictor: Predictor, views: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt classifier's and the probe's logits, computed here from the model's own
    embedding, the bundle's prompts and the bundle's probe tensors."""
    model, tokenizer, bundle = predictor.model, predictor.tokenizer, predictor.bundle
    with torch.no_grad():
        out = model(views_to_tensor(views, predictor.image_size)[None])
        classes = torch.stack(
            [
                F.normalize(
                    F.normalize(model.encode_text(tokenizer(bundle.class_prompts[c])), dim=-1).mean(
                        0
                    ),
                    dim=0,
                )
                for c in CLASSES
            ]
        )
        prompt_logits = model.logit_scale.exp() * out.fused[0] @ classes.T
    probe_logits = None
    if bundle.linear_probe is not None:
        probe = bundle.linear_probe
        z = (out.fused_raw[0] - probe["mean"]) / probe["scale"]
        probe_logits = z @ probe["weight"].T + probe["bias"]
    return prompt_logits, probe_logits


def test_affectvlm_probabilities_are_the_softmax_of_logits_over_the_temperature(project, scan):
    bundle = tiny_bundle("affectvlm", seed=0)
    bundle.calibration = CALIBRATION
    predictor, result = _predict(bundle, project, scan)
    logits, _ = _head_logits(predictor, result.views)
    expected = (logits / 7.5).softmax(-1).numpy()
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)
    assert not np.allclose(result.probabilities, logits.softmax(-1).numpy(), atol=1e-3)
    record = result.to_json()
    assert record["calibrated"] is True and record["temperature"] == 7.5

    bundle.calibration = None  # the same model uncalibrated: the same answer, surer of it
    _, plain = _predict(bundle, project, scan)
    np.testing.assert_allclose(plain.probabilities, logits.softmax(-1).numpy(), atol=1e-5)
    assert plain.prediction == result.prediction
    assert plain.to_json()["calibrated"] is False and "temperature" not in plain.to_json()


def test_smile_probe_and_zero_shot_each_use_their_own_temperature(project, scan):
    bundle = tiny_bundle("smile", seed=1, probe=True)
    bundle.calibration = CALIBRATION
    predictor, result = _predict(bundle, project, scan)
    prompt_logits, probe_logits = _head_logits(predictor, result.views)
    assert result.method == "linear probe"
    np.testing.assert_allclose(
        result.probabilities, (probe_logits / 3.0).softmax(-1).numpy(), atol=1e-5
    )
    np.testing.assert_allclose(
        result.zero_shot, (prompt_logits / 7.5).softmax(-1).numpy(), atol=1e-5
    )
    assert result.to_json()["temperature"] == 3.0

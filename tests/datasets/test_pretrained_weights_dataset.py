"""PretrainedWeightsDataset: a versioned bare state dict that open_clip loads, plus its info."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub import

import json
from pathlib import Path

import pytest
import torch
from kedro.io import DatasetError, Version

from facevlm.datasets import PretrainedWeights, PretrainedWeightsDataset
from facevlm.experiments.pretrain import PretrainedBackbone
from facevlm.models.backbone import BackboneConfig, create_backbone

TINY = "facevlm-tiny"


def _state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "visual.proj": torch.randn(4, 3, generator=generator),
        "logit_scale": torch.tensor(2.5 + seed),
    }


def _dataset(tmp_path: Path, version: Version | None = None) -> PretrainedWeightsDataset:
    return PretrainedWeightsDataset(
        filepath=str(tmp_path / "w.pt"), version=version or Version(None, None)
    )


def _assert_same_state(loaded: dict, expected: dict) -> None:
    assert set(loaded) == set(expected), "the file holds the state dict and nothing else"
    for name, tensor in expected.items():
        assert torch.equal(loaded[name], tensor), name


def test_save_then_load_gives_the_weight_file_and_its_info(tmp_path):
    state = _state_dict()
    _dataset(tmp_path).save(
        PretrainedBackbone(state, TINY, history=[{"loss": 1.5}], holdout_zero_shot=0.75)
    )

    weights = _dataset(tmp_path).load()

    assert isinstance(weights, PretrainedWeights)
    assert Path(weights.path).is_absolute()
    assert Path(weights.path).is_file()
    _assert_same_state(torch.load(weights.path, weights_only=True), state)
    assert weights.info["architecture"] == TINY
    assert weights.architecture == TINY
    assert weights.info["epochs"] == 1
    assert weights.info["final_loss"] == 1.5
    assert weights.info["holdout_zero_shot"] == 0.75
    assert weights.skipped is False


def test_the_info_is_a_json_file_beside_the_weights(tmp_path):
    _dataset(tmp_path).save(
        PretrainedBackbone(
            _state_dict(), TINY, history=[{"loss": 2.0}, {"loss": 1.2}], holdout_zero_shot=None
        )
    )

    weights = _dataset(tmp_path).load()

    info_file = Path(weights.path).with_suffix(".json")
    assert info_file.parent == Path(weights.path).parent
    assert json.loads(info_file.read_text()) == weights.info
    assert weights.info["epochs"] == 2
    assert weights.info["final_loss"] == 1.2, "the loss of the last epoch"
    assert weights.info["holdout_zero_shot"] is None


def test_loading_does_not_read_the_tensors(tmp_path, monkeypatch):
    _dataset(tmp_path).save(PretrainedBackbone(_state_dict(), TINY, [{"loss": 1.0}], 0.5))

    def refuse(*args, **kwargs):
        raise AssertionError("load must not read the weight file")

    monkeypatch.setattr(torch, "load", refuse)
    weights = _dataset(tmp_path).load()

    assert weights.info["final_loss"] == 1.0


def test_weights_without_a_state_dict_load_as_skipped(tmp_path):
    _dataset(tmp_path).save(PretrainedBackbone({}, TINY, history=[], holdout_zero_shot=None))

    weights = _dataset(tmp_path).load()

    assert weights.skipped is True
    assert weights.info["epochs"] == 0
    assert weights.info["final_loss"] is None


def test_an_old_version_can_be_loaded(tmp_path):
    first, second = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"
    _dataset(tmp_path, Version(None, first)).save(
        PretrainedBackbone(_state_dict(1), TINY, [{"loss": 3.0}], 0.25)
    )
    _dataset(tmp_path, Version(None, second)).save(
        PretrainedBackbone(_state_dict(2), TINY, [{"loss": 1.0}], 0.5)
    )

    latest = _dataset(tmp_path).load()
    pinned = _dataset(tmp_path, Version(first, None)).load()

    assert latest.path != pinned.path
    assert second in latest.path and first in pinned.path
    assert (latest.info["final_loss"], pinned.info["final_loss"]) == (1.0, 3.0)
    _assert_same_state(torch.load(latest.path, weights_only=True), _state_dict(2))
    _assert_same_state(torch.load(pinned.path, weights_only=True), _state_dict(1))


def test_exists_only_after_a_save(tmp_path):
    dataset = _dataset(tmp_path)
    assert not dataset.exists()

    dataset.save(PretrainedBackbone(_state_dict(), TINY, [], None))

    assert _dataset(tmp_path).exists()


def test_loading_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError):
        _dataset(tmp_path).load()


def test_open_clip_loads_the_saved_file_like_downloaded_weights(tmp_path):
    torch.manual_seed(3)
    source, _, _ = create_backbone(BackboneConfig(name=TINY, pretrained=None))
    state = {k: v.detach().clone() for k, v in source.state_dict().items()}
    _dataset(tmp_path).save(PretrainedBackbone(state, TINY, [{"loss": 1.0}], None))
    weights = _dataset(tmp_path).load()

    torch.manual_seed(4)  # another random initialisation, replaced by the file's weights
    model, _, _ = create_backbone(BackboneConfig(name=TINY, pretrained=weights.path))

    _assert_same_state(model.state_dict(), state)

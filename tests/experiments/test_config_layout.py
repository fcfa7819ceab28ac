"""Execution settings live in ``execution``, beside ``train``: parameters that still name them
under ``train`` are refused by name, stored configs with them there are moved across, and the
digests of stored things still see them where they were."""

from __future__ import annotations

import pytest

from facevlm.config import to_dict
from facevlm.experiments.affectvlm import AffectVLMConfig
from facevlm.experiments.common import computed_config
from facevlm.experiments.config_layout import (
    EXECUTION_KEYS,
    moved_to_execution,
    with_execution_in_train,
)
from facevlm.experiments.pretrain import PretrainConfig
from facevlm.experiments.smile import SmileConfig
from facevlm.trainer import ExecutionConfig


@pytest.mark.parametrize("config_type", [AffectVLMConfig, SmileConfig])
def test_an_execution_setting_under_train_names_its_new_place(config_type):
    with pytest.raises(ValueError, match=r"train\.nproc moved to experiment\.execution\.nproc"):
        config_type.from_params({"train": {"epochs": 2, "nproc": 2}})
    with pytest.raises(ValueError, match=r"experiment\.execution\.device, .*execution\.progress"):
        config_type.from_params({"train": {"device": "cpu", "progress": False}})


def test_an_execution_setting_under_the_pretraining_train_names_its_new_place():
    with pytest.raises(
        ValueError, match=r"train\.device moved to pretraining\.training\.execution\.device"
    ):
        PretrainConfig.from_params({"train": {"epochs": 2, "device": "cpu"}})


def test_the_execution_block_builds_the_execution_config():
    cfg = AffectVLMConfig.from_params(
        {"train": {"epochs": 2}, "execution": {"nproc": 2, "device": "cpu"}}
    )
    assert cfg.execution == ExecutionConfig(nproc=2, device="cpu")
    assert cfg.train.epochs == 2
    pretrain = PretrainConfig.from_params({"execution": {"progress": False}})
    assert pretrain.execution == ExecutionConfig(progress=False)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epochs'\]"):
        AffectVLMConfig.from_params({"execution": {"epochs": 2}})  # the other way round


def test_the_experiment_key_leaves_the_execution_block_out():
    plain = AffectVLMConfig()
    launched = AffectVLMConfig(execution=ExecutionConfig(nproc=4, device="cuda", progress=False))
    assert computed_config(plain) == computed_config(launched)
    assert "execution" not in computed_config(plain)
    assert computed_config(plain)["train"] == to_dict(plain.train)


def old_layout(config: dict) -> dict:
    """``config`` as earlier versions wrote it: the execution settings inside ``train``."""
    flat = {k: v for k, v in config.items() if k != "execution"}
    return {**flat, "train": {**config["train"], **config["execution"]}}


def test_a_stored_config_in_the_old_layout_is_moved_across():
    cfg = SmileConfig(execution=ExecutionConfig(device="cpu", keep_checkpoints=1))
    stored = old_layout(to_dict(cfg))
    assert "execution" not in stored and stored["train"]["keep_checkpoints"] == 1

    moved = moved_to_execution(stored)

    assert moved == to_dict(cfg)
    assert SmileConfig.from_params(moved) == cfg
    assert moved_to_execution(to_dict(cfg)) == to_dict(cfg)  # the current layout: as it is
    assert stored["train"]["keep_checkpoints"] == 1  # the stored dict itself is left alone


def test_a_partly_stored_execution_block_keeps_its_own_values():
    moved = moved_to_execution({"train": {"epochs": 2, "device": "cpu"}, "execution": {"nproc": 2}})
    assert moved == {"train": {"epochs": 2}, "execution": {"device": "cpu", "nproc": 2}}


def test_digests_see_the_execution_settings_where_they_were():
    cfg = AffectVLMConfig(execution=ExecutionConfig(nproc=2))
    assert with_execution_in_train(to_dict(cfg)) == old_layout(to_dict(cfg))
    assert with_execution_in_train(old_layout(to_dict(cfg))) == old_layout(to_dict(cfg))
    assert with_execution_in_train({"train": {"epochs": 1}}) == {"train": {"epochs": 1}}


def test_every_execution_setting_is_an_execution_config_field():
    assert set(EXECUTION_KEYS) == set(to_dict(ExecutionConfig()))

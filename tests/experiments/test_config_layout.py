"""Execution settings live in ``execution``, beside ``train``: parameters that still name them
under ``train`` are refused by name."""

from __future__ import annotations

import pytest

from conf_profiles import load_parameters
from facevlm.config import to_dict
from facevlm.experiments.affectvlm import AffectVLMConfig
from facevlm.experiments.common import computed_config
from facevlm.experiments.config_layout import EXECUTION_KEYS
from facevlm.experiments.model_parameters import resolve_model_parameters
from facevlm.experiments.pretrain import PretrainConfig
from facevlm.experiments.smile import SmileConfig
from facevlm.trainer import ExecutionConfig

# Kedro's loader calls an OmegaConf API that OmegaConf deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:register_new_resolver:UserWarning")


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


def test_every_execution_setting_is_an_execution_config_field():
    assert set(EXECUTION_KEYS) == set(to_dict(ExecutionConfig()))


def test_an_old_execution_key_given_on_the_command_line_names_its_new_place():
    """``kedro run --params "smile.experiment.train.nproc=2"`` as the docs once said."""

    def smile(*overrides):
        experiment = resolve_model_parameters(load_parameters("local", *overrides)["smile"])
        return SmileConfig.from_params(experiment["experiment"])

    with pytest.raises(ValueError, match=r"experiment\.execution\.nproc"):
        smile("smile.experiment.train.nproc=2")
    assert smile("smile.experiment.execution.nproc=2").execution.nproc == 2

"""The keys that name runs on disk digest exactly what they digested when the execution settings
were fields of ``TrainConfig`` (which its keys left out): checkpoint folders, training-run
folders, fold results and training bundles made before are found again.

The old way is spelt out here, not taken from the code: the training config as one flat dict of
both blocks, less the execution settings, through the same digest.
"""

from __future__ import annotations

import copy
from dataclasses import asdict

import pytest
import torch
from torch import nn

from conf_profiles import load_parameters
from facevlm.config import to_dict
from facevlm.digests import json_digest
from facevlm.experiments.common import computed_config
from facevlm.experiments.model_parameters import resolve_model_parameters
from facevlm.experiments.pretrain import PretrainConfig
from facevlm.experiments.recipes import get_recipe
from facevlm.trainer import ExecutionConfig
from facevlm.trainer.resume import checkpoint_identity

# Kedro's loader calls an OmegaConf API that OmegaConf deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:register_new_resolver:UserWarning")

#: The TrainConfig fields every run key left out before ExecutionConfig held them.
FORMER_EXECUTION_FIELDS = (
    "nproc",
    "resume",
    "checkpoint_dir",
    "keep_checkpoints",
    "progress",
    "prefetch",
    "cpu_threads",
    "num_workers",
    "device",
    "deterministic",
    "compile",
    "find_unused_parameters",
)

#: Model namespaces and the block each is merged over (None: its own block is whole).
MODELS = {
    "affectvlm": None,
    "smile": None,
    "smile_mer": "smile",
    "affectvlm_4d": "affectvlm",
    "smile_4d": "smile",
}


def model_config(env: str, namespace: str, *overrides: str):
    params = load_parameters(env, *overrides)
    base = MODELS[namespace]
    resolved = resolve_model_parameters(
        params[base or namespace], params[namespace] if base else None
    )
    return get_recipe(resolved["recipe"]).config_type.from_params(resolved["experiment"])


def former_train(train, execution) -> dict:
    """The training config as the one flat dict it was, then what its keys digested."""
    flat = {**asdict(train), **{k: getattr(execution, k) for k in FORMER_EXECUTION_FIELDS}}
    return {k: v for k, v in flat.items() if k not in FORMER_EXECUTION_FIELDS}


def identity_config(train) -> dict:
    """The ``config`` part of the checkpoint identity the loop computes for ``train``."""
    _, described = checkpoint_identity(
        nn.Linear(2, 2), nn.ModuleList(), torch.zeros(3), None, train
    )
    return described["config"]


def test_every_former_execution_field_has_moved_to_the_execution_config():
    assert set(FORMER_EXECUTION_FIELDS) <= set(asdict(ExecutionConfig()))


@pytest.mark.parametrize("env", ["local", "paper"])
@pytest.mark.parametrize("namespace", list(MODELS))
def test_model_run_keys_digest_what_they_did_before(env, namespace):
    cfg = model_config(env, namespace)
    before = former_train(cfg.train, cfg.execution)
    assert identity_config(cfg.train) == before
    assert json_digest(asdict(cfg.train), "sha256") == json_digest(before, "sha256")
    # the experiment-level key (training-run folders, fold results): no execution block
    experiment = {k: v for k, v in to_dict(cfg).items() if k != "execution"}
    experiment["train"] = before
    assert json_digest(computed_config(cfg), "sha256") == json_digest(experiment, "sha256")


@pytest.mark.parametrize("env", ["local", "paper"])
def test_the_pretraining_run_key_digests_what_it_did_before(env):
    training = copy.deepcopy(load_parameters(env)["pretraining"]["training"])
    cfg = PretrainConfig.from_params(training)
    before = former_train(cfg.train, cfg.execution)
    assert identity_config(cfg.train) == before


def test_an_old_execution_key_given_on_the_command_line_names_its_new_place():
    """``kedro run --params "smile.experiment.train.nproc=2"`` as the docs once said."""
    with pytest.raises(ValueError, match=r"experiment\.execution\.nproc"):
        model_config("local", "smile", "smile.experiment.train.nproc=2")
    cfg = model_config("local", "smile", "smile.experiment.execution.nproc=2")
    assert cfg.execution.nproc == 2

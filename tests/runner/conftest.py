"""Shared fixtures of the distributed-training tests: tiny training bundles of both models."""

from __future__ import annotations

import copy
import os

import pytest
from tiny_bundles import SRC, TINY_EXPERIMENT, prompt_bank, tiny_data

from facevlm.experiments.experiment_data import ExperimentData
from facevlm.runner.training_bundle import write_training_bundle


@pytest.fixture
def make_bundle(tmp_path):
    """``make_bundle(model, **train_overrides) -> bundle folder`` of the tiny data."""

    def make(model: str, name: str | None = None, data: ExperimentData | None = None, **train):
        experiment = copy.deepcopy(TINY_EXPERIMENT)
        experiment["train"].update(train)
        return write_training_bundle(
            tmp_path / (name or f"{model}-bundle"),
            model,
            data if data is not None else tiny_data(),
            prompt_bank(model),
            experiment,
            tags={"model": model, "dataset": "tiny"},
        )

    return make


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every distributed test on one intra-op thread (tests/conftest.py says why)."""


@pytest.fixture
def worker_env():
    """Environment for torchrun workers: this checkout's package, one thread each, no hub."""
    return {
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }

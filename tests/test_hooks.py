"""The session's MLflow run says how it computes, a ``kedro run`` computes as ``numerics``
configures it, and the run of a killed ``kedro run`` does not stay RUNNING: the next session
closes it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset

from facevlm.hooks import (
    HOST_TAG,
    PID_TAG,
    NumericsHooks,
    SessionRunHooks,
    close_runs_of_dead_sessions,
)
from facevlm.numerics import NUMERICS_TAG, describe
from facevlm.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

ROOT = Path(__file__).resolve().parents[1]


def _open_run(client: mlflow.MlflowClient, experiment_id: str, host: str, pid: int) -> str:
    run = client.create_run(experiment_id, tags={HOST_TAG: host, PID_TAG: str(pid)})
    return run.info.run_id


def test_runs_of_dead_processes_on_this_host_are_marked_killed(mlflow_tracking):
    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name("facevlm-test").experiment_id
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(finished.stdout)
    host = socket.gethostname()
    dead = _open_run(client, experiment, host, dead_pid)
    alive = _open_run(client, experiment, host, os.getppid())  # this test's parent: running
    elsewhere = _open_run(client, experiment, "another-machine", dead_pid)

    closed = close_runs_of_dead_sessions(client, [experiment])

    assert closed == [dead]
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(alive).info.status == "RUNNING"
    assert client.get_run(elsewhere).info.status == "RUNNING", "its process cannot be checked here"


def _catalog_with(runtime_params: dict) -> DataCatalog:
    """What the hooks read of a run's catalog: the project's real parameters, with --params."""
    loader = CONFIG_LOADER_CLASS(
        conf_source=str(ROOT / "conf"), **CONFIG_LOADER_ARGS, runtime_params=runtime_params
    )
    return DataCatalog({"parameters": MemoryDataset(loader["parameters"])})


@pytest.mark.parametrize(("device", "on_gpu"), [("auto", True), ("cuda:0", True), ("cpu", False)])
def test_the_session_run_names_the_gpu_its_models_train_on(
    mlflow_tracking, monkeypatch, device, on_gpu
):
    """On a machine with a GPU the default (`auto`) trains there: the session run says so, so
    that `report_check` tells a GPU run's figures from a CPU run's; `cpu` keeps the CPU's tag."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    hooks = SessionRunHooks()
    # as `kedro run --params model_defaults.experiment.execution.device=...` hands them over
    params = {"model_defaults": {"experiment": {"execution": {"device": device}}}}
    with mlflow.start_run() as run:
        hooks.before_pipeline_run(catalog=_catalog_with(params))
    tag = mlflow.get_run(run.info.run_id).data.tags[NUMERICS_TAG]
    assert tag.startswith(describe())
    assert ("training on CUDA (NVIDIA H200)" in tag) is on_gpu


class _Context:
    """What the numerics hook reads of a Kedro context: the project's configuration."""

    def __init__(self, runtime_params: dict) -> None:
        self.config_loader = CONFIG_LOADER_CLASS(
            conf_source=str(ROOT / "conf"), **CONFIG_LOADER_ARGS, runtime_params=runtime_params
        )


@pytest.mark.parametrize(
    ("runtime_params", "pin"),
    [({}, True), ({"numerics": {"pin": False}}, False), ({"numerics": {"pin": True}}, True)],
)
def test_the_numerics_hook_hands_the_run_its_configured_pin(monkeypatch, runtime_params, pin):
    """The project's ``numerics.pin`` (true in conf/base), or ``--params``, decides how a
    ``kedro run`` computes; the thread count is applied beside it."""
    settled, threads = [], []
    monkeypatch.setattr("facevlm.hooks.settle_kedro_run", settled.append)
    monkeypatch.setattr("facevlm.hooks.pin_threads", threads.append)
    monkeypatch.setenv("FACEVLM_THREADS", "3")
    NumericsHooks().after_context_created(_Context(runtime_params))
    assert settled == [pin] and threads == [3]


def test_a_pin_setting_that_is_not_true_or_false_is_refused(monkeypatch):
    monkeypatch.setattr("facevlm.hooks.settle_kedro_run", lambda pin: None)
    with pytest.raises(ValueError, match="numerics.pin must be true or false"):
        NumericsHooks().after_context_created(_Context({"numerics": {"pin": "no"}}))

"""The MLflow run of a killed ``kedro run`` does not stay RUNNING: the next session closes it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import mlflow

from facevlm.hooks import HOST_TAG, PID_TAG, close_runs_of_dead_sessions


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

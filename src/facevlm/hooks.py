"""Project hooks: the session's numerics are fixed, and MLflow session runs that outlive a
killed ``kedro run`` are closed.

kedro-mlflow opens one MLflow run per Kedro session and ends it when the pipeline ends or
fails. A ``kedro run`` killed with SIGKILL (or by the machine going down) never gets there, so
its run would stay ``RUNNING`` forever and look alive in the MLflow UI. Every session run is
tagged with the host and process that own it; the next session on that host marks the runs
whose process is gone as ``KILLED``.
"""

from __future__ import annotations

import logging
import os
import socket

import mlflow
from kedro.framework.hooks import hook_impl

from facevlm.model_namespaces import BASE_MODELS
from facevlm.numerics import (
    NUMERICS_TAG,
    describe,
    pin_threads,
    session_threads,
    settle_kedro_run,
)

logger = logging.getLogger(__name__)

HOST_TAG, PID_TAG = "facevlm.host", "facevlm.pid"


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def close_runs_of_dead_sessions(
    client: mlflow.MlflowClient, experiment_ids: list[str]
) -> list[str]:
    """Mark ``RUNNING`` runs of this host whose owning process is gone as ``KILLED``; returns
    their ids. Runs of other hosts are left alone (their processes cannot be checked here)."""
    host = socket.gethostname()
    stale = client.search_runs(
        experiment_ids,
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
    )
    closed = []
    for run in stale:
        pid = run.data.tags.get(PID_TAG, "")
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    return closed


def _training_device(parameters: dict) -> str:
    """Where a run's models train: the first of the default run's models whose
    ``experiment.execution.device`` is not ``cpu`` (``auto``, the default, is a GPU on a machine
    with one), else ``cpu``. The loader has merged ``model_defaults`` into each model's block."""
    for model in BASE_MODELS:
        experiment = (parameters.get(model) or {}).get("experiment") or {}
        device = str((experiment.get("execution") or {}).get("device") or "auto")
        if device != "cpu":
            return device
    return "cpu"


class SessionRunHooks:
    """Tag the session's MLflow run with its owner and how it computes; close the runs of
    killed sessions."""

    @hook_impl
    def before_pipeline_run(self, catalog) -> None:
        run = mlflow.active_run()  # kedro-mlflow's hook ran first and opened the session run
        if run is None:
            return
        from facevlm.trainer import resolve_device  # torch: once a pipeline runs, not at start

        # the run's parameters (--params included) as the catalog already holds them: read
        # here rather than when the context is made, which the app and `facevlm predict` do
        # without running anything
        device = _training_device(catalog["parameters"].load())
        mlflow.set_tags(
            {
                HOST_TAG: socket.gethostname(),
                PID_TAG: str(os.getpid()),
                NUMERICS_TAG: describe(resolve_device(device)),
            }
        )
        closed = close_runs_of_dead_sessions(mlflow.MlflowClient(), [run.info.experiment_id])
        if closed:
            logger.warning(
                "marked %d MLflow run(s) of killed sessions as KILLED: %s",
                len(closed),
                ", ".join(closed),
            )


def _pin_setting(numerics: dict) -> bool:
    """``numerics.pin``: true (the default, also when the key is absent) or false. A string
    such as ``"no"`` is refused rather than read as true."""
    value = numerics.get("pin", True)
    if not isinstance(value, bool):
        raise ValueError(f"numerics.pin must be true or false, got {value!r}")
    return value


class NumericsHooks:
    """A ``kedro run`` on the code path ``numerics.pin`` asks for, and the session on
    ``numerics.threads`` threads (parameters.yml; the variable ``FACEVLM_THREADS`` wins): a
    reduction split over another number of threads adds in another order, so the count is the
    project's, not the machine's (why: facevlm/numerics.py)."""

    @hook_impl
    def after_context_created(self, context) -> None:
        # the config loader, not `context.params`: Kedro validates `params` against every
        # pipeline's typed parameters, which imports all pipelines (the app and `facevlm
        # predict` open a session and run none); the loader holds --params too
        numerics = context.config_loader["parameters"].get("numerics") or {}
        # the `kedro` command pinned the code paths before it could read the configuration:
        # a run configured otherwise starts again here, before it computes anything
        settle_kedro_run(_pin_setting(numerics))
        threads = session_threads(numerics.get("threads"))
        if threads is not None:
            pin_threads(threads)
        logger.info("numerics: %s", describe())

"""kedro-mlflow's hook, with each node's parameters logged in one MLflow call instead of one
call per parameter.

Why: kedro-mlflow logs every ``params:`` input of every node, flattened, with one
``mlflow.log_param`` each, and against the SQLite store each of those is a transaction of its
own (about 20 ms here). A model's parameters flatten to a hundred-odd names and several nodes
read them, so a default run spent tens of seconds, and each test session seconds, writing the
same parameters again one by one. This hook is kedro-mlflow's own (the project's settings
register it in place of the plugin's entry point) with one change: a node's parameters go in
one ``mlflow.log_params`` batch, less those the session run already holds with the same value.
What is logged, under which names, with which long-value strategy, is kedro-mlflow's.
"""

from __future__ import annotations

from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

#: The plugin names under which Kedro finds kedro-mlflow's own hook (its distribution's name, as
#: its metadata spells it and as pip normalises it): the project registers this one instead.
KEDRO_MLFLOW_PLUGIN = ("kedro_mlflow", "kedro-mlflow")


class MlflowHookWithBatchedParams(MlflowHook):
    """:class:`kedro_mlflow.framework.hooks.MlflowHook` logging a node's parameters in one
    batch."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, Any] | None = None  # collecting while a node's inputs are read
        self._logged: dict[str, str] = {}  # what the session run holds, as MLflow stores it

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._logged = {}  # a new session run
        super().before_pipeline_run(run_params, pipeline, catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool):
        self._pending = {}
        try:
            super().before_node_run(node, catalog, inputs, is_async)
            pending = self._pending
        finally:
            self._pending = None
        new = {name: value for name, value in pending.items() if self._logged.get(name) != value}
        if new:
            mlflow.log_params(new)
            self._logged.update(new)

    def _log_param(self, name: str, value: Any) -> None:
        text = str(value)
        if self._pending is None or len(text) > MAX_PARAM_VAL_LENGTH:
            super()._log_param(name, value)  # outside a node, or kedro-mlflow's long-value rule
        else:
            self._pending[name] = text

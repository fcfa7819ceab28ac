"""Kedro project settings.

kedro-mlflow's hook runs as :class:`~facevlm.mlflow_params_hook.MlflowHookWithBatchedParams`
(its own, logging each node's parameters in one call) in place of the plugin's entry point.
Ours put a ``kedro run`` on the numerical path ``numerics.pin`` asks for, fix the thread count
and tag the session run with its numerical path (:mod:`facevlm.numerics`), close the MLflow
runs of killed sessions (:mod:`facevlm.hooks`) and log each stage's time
(:mod:`facevlm.stage_timing`). The ``mlflow`` config pattern is declared so
``conf/<env>/mlflow.yml`` is found in every env. The config loader adds the profile of the
dataset that ``dataset.name`` names to the parameters (:mod:`facevlm.dataset_profiles`), so a
recipe env (``--env paper``) works with any dataset.
"""

from facevlm.dataset_profiles import DatasetProfileConfigLoader
from facevlm.hooks import NumericsHooks, SessionRunHooks
from facevlm.mlflow_params_hook import KEDRO_MLFLOW_PLUGIN, MlflowHookWithBatchedParams
from facevlm.stage_timing import StageTimingHooks

# The hooks registered last run first (pluggy): kedro-mlflow's, last here, runs before ours, so its
# session run is open when ours run, as it was when the plugin's entry point registered it.
HOOKS = (NumericsHooks(), SessionRunHooks(), StageTimingHooks(), MlflowHookWithBatchedParams())
DISABLE_HOOKS_FOR_PLUGINS = KEDRO_MLFLOW_PLUGIN

CONFIG_LOADER_CLASS = DatasetProfileConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    # an env (conf/paper, conf/local) overrides single keys, not whole blocks
    "merge_strategy": {"parameters": "soft"},
}

"""Kedro project settings.

kedro-mlflow registers its hook through its entry point; ours close the MLflow runs of killed
sessions (:mod:`facevlm.hooks`) and log each stage's time (:mod:`facevlm.stage_timing`). The ``mlflow`` config pattern is declared so
``conf/<env>/mlflow.yml`` is found in every env. The config loader adds the profile of the
dataset that ``dataset.name`` names to the parameters (:mod:`facevlm.dataset_profiles`), so a
recipe env (``--env paper``) works with any dataset.
"""

from facevlm.dataset_profiles import DatasetProfileConfigLoader
from facevlm.hooks import SessionRunHooks
from facevlm.stage_timing import StageTimingHooks

# kedro-mlflow's hooks (entry point) run before these: its session run is open when ours run
HOOKS = (SessionRunHooks(), StageTimingHooks())

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

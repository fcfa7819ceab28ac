"""Kedro project settings.

kedro-mlflow registers its hook through its entry point, so no hook is listed here; the
``mlflow`` config pattern is declared so ``conf/<env>/mlflow.yml`` is found in every env.
"""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    # an env (conf/paper, conf/bu3dfe, ...) overrides single keys, not whole blocks
    "merge_strategy": {"parameters": "soft"},
}

"""The project's conf as the tests read it: the parameters of a run, and the dataset profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from facevlm.dataset_profiles import PROFILE_FOLDER
from facevlm.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

#: The project's conf folder.
CONF = Path(__file__).resolve().parents[1] / "conf"


def load_parameters(env: str, *overrides: str, conf: Path = CONF) -> dict[str, Any]:
    """The parameters of ``kedro run --env <env> --params "<overrides>"``, through the project's
    own config loader and settings."""
    runtime = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides))) if overrides else None
    loader = CONFIG_LOADER_CLASS(
        conf_source=str(conf),
        runtime_params=runtime,
        **{**CONFIG_LOADER_ARGS, "default_run_env": env},
    )
    return loader["parameters"]


def profile_names(conf_source: str | Path, base_env: str = "base") -> list[str]:
    """The datasets that have a profile in ``conf/<base_env>``."""
    folder = Path(conf_source) / base_env / PROFILE_FOLDER
    return sorted(path.stem for path in folder.glob("*.yml"))

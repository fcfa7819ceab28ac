"""The dataset profiles that a conf folder holds (``<env>/dataset_profiles/<name>.yml``)."""

from __future__ import annotations

from pathlib import Path

from facevlm.dataset_profiles import PROFILE_FOLDER


def profile_names(conf_source: str | Path, base_env: str = "base") -> list[str]:
    """The datasets that have a profile in ``conf/<base_env>``."""
    folder = Path(conf_source) / base_env / PROFILE_FOLDER
    return sorted(path.stem for path in folder.glob("*.yml"))

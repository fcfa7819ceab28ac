"""Dataset profiles: the settings that belong to a dataset, picked by ``dataset.name``.

A recipe (``--env paper``: ViT-B/32, batch 64, 30 epochs ...) and a dataset (BU-4DFE: its
layout options, its literature protocol, which frames of a sequence to render) are independent
choices, but Kedro activates one env at a time. So the dataset side is not an env: each real
dataset has a profile, ``conf/base/dataset_profiles/<name>.yml``, and the parameters of any env
get the profile of the dataset they name::

    kedro run --env paper --pipeline=train_affectvlm \\
        --params "dataset.name=bu4dfe,dataset.root=/data/BU-4DFE"

Precedence, lowest first: ``conf/base`` parameters, a recipe env's parameters (``--env
paper``), the profile (``conf/base/dataset_profiles/<name>.yml``, then
``conf/<env>/dataset_profiles/<name>.yml`` if the env has one), the user's own ``conf/local``
parameters, the command line's ``--params``. The profile comes after a recipe env because it
states facts about the data (a recipe's "10 folds" must not turn 4DME's leave-one-subject-out
into k-fold); it comes before ``conf/local`` and ``--params`` because those are the user's
choices for this machine and this run (``render.n_workers: 4`` in ``conf/local`` holds for
every dataset). So a profile holds only facts about the data: its layout options, labels,
literature protocol and frame selection, never how a run executes. Profiles hold no
``dataset.root``: where the data lives is the user's, given with ``--params`` or in
``conf/local``. A name without a profile (``synthetic``) changes nothing.

The same loader gives each model's parameter block the shared ``model_defaults`` block beneath
it (:func:`with_model_defaults`), so what both models train with is written once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from facevlm.config import deep_merge
from facevlm.experiments.recipes import RECIPE_NAMES

#: Folder, inside an env's folder, of the profiles.
PROFILE_FOLDER = "dataset_profiles"
#: The env of the user's own settings (Kedro's ``conf/local``, never committed); when the run
#: uses it, its parameters win over a dataset's profile.
USER_ENV = "local"


class DatasetProfileConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader`` whose ``parameters`` include the named dataset's profile."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        config = super().__getitem__(key)
        if key != "parameters":
            return config
        name = dataset_name(config, self.runtime_params)
        profile = self.dataset_profile(name) if name else {}
        if profile:
            layers = [config, profile, self.user_parameters(), self.runtime_params or {}]
            config = OmegaConf.to_container(OmegaConf.merge(*layers), resolve=True)
        return with_model_defaults(config)

    def user_parameters(self) -> dict[str, Any]:
        """The parameters of ``conf/local`` alone when the run uses that env (``{}`` otherwise):
        laid again over the profile, so that what the user set there wins over it."""
        if (self.env or self.default_run_env) != USER_ENV:
            return {}
        folder = Path(self.conf_source) / USER_ENV
        if not folder.is_dir():
            return {}
        patterns = self.config_patterns["parameters"]
        return self.load_and_merge_dir_config(str(folder), patterns, "parameters", set())

    def profile_files(self, name: str) -> list[Path]:
        """The profile files of dataset ``name``, lowest precedence first (existing or not)."""
        envs = [self.base_env, self.env or self.default_run_env]
        folders = dict.fromkeys(Path(self.conf_source) / env / PROFILE_FOLDER for env in envs)
        return [folder / f"{name}.yml" for folder in folders]

    def dataset_profile(self, name: str) -> dict[str, Any]:
        """The merged profile of dataset ``name`` (``{}`` when it has none); a profile file that
        sets ``dataset.root`` is refused, by name."""
        layers = []
        for path in self.profile_files(name):
            if not path.is_file():
                continue
            layer = OmegaConf.load(path)
            if "root" in (layer.get("dataset") or {}):
                raise ValueError(
                    f"{path}: a dataset profile must not set dataset.root "
                    "(where the data lives is the user's: --params or conf/local)"
                )
            layers.append(layer)
        return OmegaConf.to_container(OmegaConf.merge(*layers), resolve=True) if layers else {}


def dataset_name(parameters: dict[str, Any], runtime_params: dict[str, Any] | None) -> str | None:
    """``dataset.name`` as the run will see it: the command line's, else the parameters'."""
    for source in (runtime_params or {}, parameters):
        dataset = source.get("dataset")
        if isinstance(dataset, dict) and dataset.get("name") is not None:
            return str(dataset["name"])
    return None


#: Parameter block that every model's block (``params:affectvlm``, ``params:smile``) starts from.
MODEL_DEFAULTS = "model_defaults"


def with_model_defaults(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with each recipe's block (``affectvlm``, ``smile``) merged over
    ``model_defaults``, and ``model_defaults`` itself removed.

    What the models share (the protocol, the backbone, the optimiser's settings, how training
    runs) is written once; a model's block says only what is its own. The merge is the one a
    derived namespace uses over its base (``smile_mer`` over ``smile``): a key in the model's
    block wins, in whichever env it is set, over the same key in ``model_defaults``."""
    if MODEL_DEFAULTS not in parameters:
        return parameters
    parameters = dict(parameters)
    defaults = parameters.pop(MODEL_DEFAULTS) or {}
    for model in RECIPE_NAMES:
        if isinstance(parameters.get(model), dict):
            parameters[model] = deep_merge(defaults, parameters[model])
    return parameters

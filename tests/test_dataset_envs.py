"""The per-dataset Kedro environments ``conf/<dataset>/``, loaded the way ``kedro run --env``
loads them (the project's own config loader and settings, merged over ``conf/base``). Each env
names its dataset; the settings themselves come from the dataset's profile
(``conf/base/dataset_profiles/<dataset>.yml``, see ``tests/test_dataset_profiles.py``).

Specification, for each of BU-3DFE, BU-4DFE, Bosphorus, BP4D and 4DME:

- ``dataset.name`` is the registered layout and ``dataset.root`` a placeholder the user
  overrides with ``--params "dataset.root=..."``, which leaves the rest of the env in place;
- ``dataset.options`` writes out every option of the layout's ``Options`` and parses with it;
- ``protocol`` is the literature protocol of that dataset and parses as a ``ProtocolConfig``;
- ``render`` parses as ``RenderSettings`` once its planning keys are set aside, and ``frames``
  suits the dataset: none for static scans, a valid frame selection for 4D sequences;
- no key of ``conf/base`` is lost in the merge.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from facevlm.data.layouts.base import LAYOUT_NAMES, get_layout, parse_options
from facevlm.data.layouts.bp4d import BASIC_TASKS
from facevlm.data.protocols import ProtocolConfig
from facevlm.render.frames import parse_frames
from facevlm.render.renderer import RenderSettings
from facevlm.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

CONF = Path(__file__).resolve().parents[1] / "conf"

# Kedro's loader calls an OmegaConf API that OmegaConf deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:register_new_resolver:UserWarning")

#: Keys of ``params:render`` that plan the run rather than configure the renderer.
PLAN_KEYS = ("frames", "n_workers", "datasets", "cache_dir")


@dataclasses.dataclass(frozen=True)
class Expected:
    root: str
    protocol: str
    k: int | None  # None: leave-one-subject-out, no k
    frames: str | None  # None: static scans


EXPECTED: dict[str, Expected] = {
    "bu3dfe": Expected("/data/BU-3DFE", "subject_kfold", 10, None),
    "bu4dfe": Expected("/data/BU-4DFE", "subject_kfold", 10, "uniform:3"),
    "bosphorus": Expected("/data/Bosphorus", "subject_kfold", 10, None),
    "bp4d": Expected("/data/BP4D", "subject_kfold", 10, "uniform:3"),
    "4dme": Expected("/data/4DME", "loso", None, "uniform:3"),
}
ENVS = list(EXPECTED)


def load_parameters(env: str, *overrides: str) -> dict[str, Any]:
    """The merged parameters of ``kedro run --env <env> --params "<overrides>"`` (a copy)."""
    return copy.deepcopy(_load_parameters(env, *overrides))


@functools.cache
def _load_parameters(env: str, *overrides: str) -> dict[str, Any]:
    runtime = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides))) if overrides else None
    loader = CONFIG_LOADER_CLASS(
        conf_source=str(CONF),
        runtime_params=runtime,
        **{**CONFIG_LOADER_ARGS, "base_env": "base", "default_run_env": env},
    )
    return loader["parameters"]


def layout_options_class(name: str) -> type:
    """The ``Options`` dataclass of the module that defines the layout ``name``."""
    return importlib.import_module(type(get_layout(name)).__module__).Options


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return load_parameters("base")


def test_every_real_dataset_layout_has_an_env():
    real = {name for name in LAYOUT_NAMES if name != "synthetic"}
    assert real == set(ENVS)
    for env in ENVS:
        assert (CONF / env / "parameters.yml").is_file(), f"conf/{env}/parameters.yml missing"


@pytest.mark.parametrize("env", ENVS)
def test_env_names_its_registered_layout_and_a_placeholder_root(env):
    dataset = load_parameters(env)["dataset"]
    assert get_layout(dataset["name"]).name == env
    assert dataset["root"] == EXPECTED[env].root
    assert dataset["fail_fast"] is False, "a real collection should be quarantined, not stopped"


@pytest.mark.parametrize("env", ENVS)
def test_a_root_given_on_the_command_line_replaces_only_the_placeholder(env):
    default = load_parameters(env)["dataset"]
    dataset = load_parameters(env, "dataset.root=/mnt/scans", "dataset.fail_fast=true")["dataset"]
    assert dataset["root"] == "/mnt/scans"
    assert dataset["fail_fast"] is True
    assert dataset["name"] == env
    assert dataset["options"] == default["options"]


@pytest.mark.parametrize("env", ENVS)
def test_env_writes_out_and_parses_every_layout_option(env):
    options = load_parameters(env)["dataset"]["options"]
    options_class = layout_options_class(env)
    assert set(options) == {f.name for f in dataclasses.fields(options_class)}
    assert isinstance(parse_options(options_class, options, where=env), options_class)


def parsed_options(env: str) -> Any:
    return parse_options(
        layout_options_class(env), load_parameters(env)["dataset"]["options"], where=env
    )


def test_envs_index_what_the_literature_uses():
    assert parsed_options("bu3dfe").kind == "F3D"  # cropped faces, not the RAW scans
    assert parsed_options("bosphorus").subset == "emotions"
    tasks = parsed_options("bp4d").task_set()
    assert tasks == frozenset(BASIC_TASKS) == {"T1", "T2", "T3", "T5", "T7", "T8"}


@pytest.mark.parametrize("env", ENVS)
def test_env_protocol_is_the_literature_protocol_of_the_dataset(env):
    protocol = ProtocolConfig.from_params(load_parameters(env)["protocol"])
    assert protocol.name == EXPECTED[env].protocol
    assert protocol.subset == "literature"
    assert protocol.datasets is None  # the index holds this dataset only
    if EXPECTED[env].k is not None:
        assert protocol.k == EXPECTED[env].k


def test_bu3dfe_protocol_keeps_sixty_subjects():
    protocol = ProtocolConfig.from_params(load_parameters("bu3dfe")["protocol"])
    assert protocol.n_subjects == 60


@pytest.mark.parametrize("env", ENVS)
def test_env_render_block_parses_and_selects_frames_for_the_dataset(env):
    render = load_parameters(env)["render"]
    settings = RenderSettings.from_params(render, ignore=PLAN_KEYS)
    assert settings.size == 224 and len(settings.views) == 3
    assert render["frames"] == EXPECTED[env].frames
    if render["frames"] is not None:
        assert parse_frames(render["frames"]).mode == "uniform"


@pytest.mark.parametrize("env", ENVS)
def test_env_loses_no_key_of_base(env, base):
    params = load_parameters(env)
    assert set(base) <= set(params), "a top-level block of conf/base disappeared"
    for block in ("dataset", "render"):
        missing = set(base[block]) - set(params[block])
        assert not missing, f"{env}: {block} lacks {sorted(missing)} (Kedro merges whole blocks)"

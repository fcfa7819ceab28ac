"""What each real dataset's profile sets, loaded the way ``kedro run --params
"dataset.name=<dataset>,dataset.root=..."`` loads it (the project's own config loader and
settings, merged over ``conf/base``). A dataset is chosen by ``dataset.name`` alone; the settings
come from its profile (``conf/base/dataset_profiles/<dataset>.yml``; how profiles merge:
``tests/test_dataset_profiles.py``).

Specification, for each of BU-3DFE, BU-4DFE, Bosphorus, BP4D and 4DME:

- ``dataset.name`` is the registered layout and ``dataset.root`` is the user's, from
  ``--params``, which leaves the rest of the profile in place;
- ``dataset.options`` writes out every option of the layout's ``Options`` and parses with it;
- every model the dataset suits trains with the literature protocol of that dataset, which
  parses as a ``ProtocolConfig``;
- ``render`` parses as ``RenderSettings`` once its planning keys are set aside, and ``frames``
  suits the dataset: none for static scans, a valid frame selection for 4D sequences;
- no key of ``conf/base`` is lost in the merge.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
from typing import Any

import pytest

import conf_profiles
from conf_profiles import CONF
from facevlm.experiments.model_parameters import resolve_model_parameters
from facevlm.model_namespaces import DERIVED_MODELS
from facevlm.render.frames import parse_frames
from facevlm.render.settings import RENDER_PLAN_KEYS, RenderSettings
from facevlm.scans.layouts.base import LAYOUT_NAMES, get_layout, parse_options
from facevlm.scans.layouts.bp4d import BASIC_TASKS
from facevlm.scans.protocols import ProtocolConfig

# Kedro's loader calls an OmegaConf API that OmegaConf deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:register_new_resolver:UserWarning")


@dataclasses.dataclass(frozen=True)
class Expected:
    models: tuple[str, ...]  # the model namespaces the profile points at this dataset
    protocol: str
    k: int | None  # None: leave-one-subject-out, no k
    frames: str | None  # None: static scans


EXPECTED: dict[str, Expected] = {
    "bu3dfe": Expected(("affectvlm", "smile"), "subject_kfold", 10, None),
    "bu4dfe": Expected(
        ("affectvlm", "smile", "affectvlm_4d", "smile_4d"), "subject_kfold", 10, "uniform:3"
    ),
    "bosphorus": Expected(("affectvlm", "smile"), "subject_kfold", 10, None),
    "bp4d": Expected(
        ("affectvlm", "smile", "affectvlm_4d", "smile_4d"), "subject_kfold", 10, "uniform:3"
    ),
    "4dme": Expected(("smile_mer",), "loso", None, "uniform:3"),
}
DATASETS = list(EXPECTED)
ROOT = "/mnt/scans"


def load_parameters(dataset: str | None, *overrides: str) -> dict[str, Any]:
    """The merged parameters of ``kedro run --params "dataset.name=<dataset>,dataset.root=...,
    <overrides>"`` (a copy; ``None``: the default run's parameters)."""
    named = () if dataset is None else (f"dataset.name={dataset}", f"dataset.root={ROOT}")
    return copy.deepcopy(_load_parameters(*named, *overrides))


@functools.cache
def _load_parameters(*overrides: str) -> dict[str, Any]:
    return conf_profiles.load_parameters("local", *overrides)


def layout_options_class(name: str) -> type:
    """The ``Options`` dataclass of the module that defines the layout ``name``."""
    return importlib.import_module(type(get_layout(name)).__module__).Options


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    return load_parameters(None)


def test_every_real_dataset_layout_has_a_profile_and_no_env_of_its_own():
    real = {name for name in LAYOUT_NAMES if name != "synthetic"}
    assert real == set(DATASETS)
    for name in DATASETS:
        assert (CONF / "base" / "dataset_profiles" / f"{name}.yml").is_file()
        assert not (CONF / name).exists(), f"conf/{name}: datasets are chosen by dataset.name"


@pytest.mark.parametrize("name", DATASETS)
def test_profile_names_its_registered_layout_and_keeps_the_root_given(name):
    dataset = load_parameters(name)["dataset"]
    assert get_layout(dataset["name"]).name == name
    assert dataset["root"] == ROOT
    assert dataset["fail_fast"] is False, "a real collection should be quarantined, not stopped"


@pytest.mark.parametrize("name", DATASETS)
def test_a_setting_given_on_the_command_line_replaces_only_itself(name):
    default = load_parameters(name)["dataset"]
    dataset = load_parameters(name, "dataset.fail_fast=true")["dataset"]
    assert dataset["fail_fast"] is True
    assert dataset["name"] == name and dataset["root"] == ROOT
    assert dataset["options"] == default["options"]


@pytest.mark.parametrize("name", DATASETS)
def test_profile_writes_out_and_parses_every_layout_option(name):
    options = load_parameters(name)["dataset"]["options"]
    options_class = layout_options_class(name)
    assert set(options) == {f.name for f in dataclasses.fields(options_class)}
    assert isinstance(parse_options(options_class, options, where=name), options_class)


def parsed_options(name: str) -> Any:
    return parse_options(
        layout_options_class(name), load_parameters(name)["dataset"]["options"], where=name
    )


def test_profiles_index_what_the_literature_uses():
    assert parsed_options("bu3dfe").kind == "F3D"  # cropped faces, not the RAW scans
    assert parsed_options("bosphorus").subset == "emotions"
    tasks = parsed_options("bp4d").task_set()
    assert tasks == frozenset(BASIC_TASKS) == {"T1", "T2", "T3", "T5", "T7", "T8"}


@pytest.mark.parametrize("name", DATASETS)
def test_every_model_of_the_dataset_trains_with_its_literature_protocol(name):
    params = load_parameters(name)
    for namespace in EXPECTED[name].models:
        base = DERIVED_MODELS.get(namespace)
        resolved = resolve_model_parameters(
            params[base or namespace], params[namespace] if base else None
        )
        protocol = ProtocolConfig.from_params(resolved["protocol"])
        assert protocol.name == EXPECTED[name].protocol, namespace
        assert protocol.subset == "literature", namespace
        assert protocol.datasets is None, namespace  # the index holds this dataset only
        if EXPECTED[name].k is not None and namespace in ("affectvlm", "smile"):
            assert protocol.k == EXPECTED[name].k, namespace


@pytest.mark.parametrize("name", DATASETS)
def test_profile_render_block_parses_and_selects_frames_for_the_dataset(name):
    render = load_parameters(name)["render"]
    settings = RenderSettings.from_params(render, ignore=RENDER_PLAN_KEYS)
    assert settings.size == 224 and len(settings.views) == 3
    assert render["frames"] == EXPECTED[name].frames
    if render["frames"] is not None:
        assert parse_frames(render["frames"]).mode == "uniform"


@pytest.mark.parametrize("name", DATASETS)
def test_profile_loses_no_key_of_base(name, base):
    params = load_parameters(name)
    assert set(base) <= set(params), "a top-level block of conf/base disappeared"
    for block in ("dataset", "render"):
        missing = set(base[block]) - set(params[block])
        assert not missing, f"{name}: {block} lacks {sorted(missing)} (Kedro merges whole blocks)"
